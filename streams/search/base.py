"""The search store interface and what the two engines share.

Documents are addressed by *kind* (mentions, alerts, care-metrics), never by raw index name:
the store decides the physical index (time-based for mentions) and owns the templates.
Writes are bulk requests keyed by the record's own id, so replaying a stream is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from alerts.delivery import RetryPolicy
from streams.search.mappings import index_templates

log = logging.getLogger(__name__)
#: How long a point in time stays open between two pages of a scan.
PIT_KEEP_ALIVE = "2m"

Kind = Literal["mentions", "alerts", "care-metrics", "audit", "reports", "rollups", "labels"]
KINDS: tuple[Kind, ...] = (
    "mentions",
    "alerts",
    "care-metrics",
    "audit",
    "reports",
    "rollups",
    "labels",
)
#: Kinds kept in one index each (small, and searched whole); the others are monthly.
SINGLE: tuple[Kind, ...] = ("alerts", "audit", "reports", "labels")


class SearchUnavailable(RuntimeError):
    """The cluster could not be reached or kept refusing after retries."""


class SearchRejected(ValueError):
    """The engine refused the request itself (HTTP 400): a malformed query, an impossible
    range. The caller's mistake, never worth retrying; the API answers it with 400."""


@dataclass(frozen=True)
class Doc:
    id: str
    body: Mapping[str, Any]
    #: Event time that picks the time-based index (mentions, care metrics).
    at: datetime | None = None


@dataclass(frozen=True)
class BulkFailure:
    id: str
    reason: str
    status: int


@dataclass
class BulkResult:
    indexed: int = 0
    failures: list[BulkFailure] = field(default_factory=list)


class SearchStore(Protocol):
    engine: str

    async def ensure_setup(self) -> None: ...
    async def bulk_index(self, kind: Kind, docs: Sequence[Doc]) -> BulkResult: ...
    async def create(self, kind: Kind, doc: Doc) -> bool: ...
    async def delete_by_query(self, kind: Kind, query: Mapping[str, Any]) -> int: ...
    async def indices(self, kind: Kind) -> list[str]: ...
    async def delete_index(self, name: str) -> None: ...
    async def search(self, kind: Kind, body: Mapping[str, Any]) -> dict[str, Any]: ...
    async def count(self, kind: Kind, query: Mapping[str, Any] | None = None) -> int: ...
    def scan(
        self,
        kind: Kind,
        query: Mapping[str, Any],
        *,
        page_size: int = 2000,
        sort: Sequence[Mapping[str, Any]] = ...,
        fields: Sequence[str] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]: ...
    async def refresh(self, kind: Kind) -> None: ...
    async def delete_all(self) -> None: ...
    async def close(self) -> None: ...


class ClientStore(ABC):
    """Shared logic over an async Elasticsearch-family client; subclasses adapt call shapes."""

    engine = "abstract"
    #: HTTP statuses worth retrying a bulk item or request for.
    RETRYABLE = frozenset({429, 502, 503, 504})
    #: The client library's exceptions for "could not talk to the cluster" (subclasses name
    #: their own; the built-in network errors always count).
    CONNECTION_ERRORS: tuple[type[BaseException], ...] = ()

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "earful",
        shards: int = 1,
        replicas: int = 0,
        store_embeddings: bool = False,
        retries: int = 5,
    ):
        self.client = client
        self.prefix = prefix
        self.shards = shards
        self.replicas = replicas
        self.store_embeddings = store_embeddings
        self.retries = retries
        #: Backoff between attempts: the same policy (exponential, full jitter) as deliveries.
        self.policy = RetryPolicy(attempts=retries + 1, base_s=0.2, cap_s=10.0)
        self._rng = random.Random()

    # -- naming -------------------------------------------------------------------------------
    def index_for(self, kind: Kind, at: datetime | None) -> str:
        if kind in SINGLE:
            return f"{self.prefix}-{kind}"
        if at is None:
            raise ValueError(f"{kind} documents need an event time to choose their index")
        return f"{self.prefix}-{kind}-{at:%Y.%m}"

    def pattern(self, kind: Kind) -> str:
        return f"{self.prefix}-{kind}" if kind in SINGLE else f"{self.prefix}-{kind}-*"

    # -- engine-specific calls ---------------------------------------------------------------
    @abstractmethod
    async def _put_template(self, name: str, body: dict[str, Any]) -> None: ...

    @abstractmethod
    async def _bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]: ...

    @abstractmethod
    async def _search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    async def _count(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    async def _delete_by_query(self, index: str, query: Mapping[str, Any]) -> dict[str, Any]: ...

    # -- shared behaviour -----------------------------------------------------------------------
    async def ensure_setup(self) -> None:
        templates = index_templates(
            self.prefix,
            shards=self.shards,
            replicas=self.replicas,
            store_embeddings=self.store_embeddings,
        )
        for name, body in templates.items():
            await self._call(self._put_template, name, body)
        # The single indexes are not time-based; create them so searches on an idle system work.
        for kind in SINGLE:
            if await self.client.indices.exists(index=self.pattern(kind)):
                continue
            try:
                await self.client.indices.create(index=self.pattern(kind))
            except Exception as exc:  # created concurrently by another worker
                if "already_exists" not in str(exc) and "resource_already_exists" not in str(exc):
                    raise

    async def bulk_index(self, kind: Kind, docs: Sequence[Doc]) -> BulkResult:
        result = BulkResult()
        pending = list(docs)
        for attempt in range(self.retries + 1):
            if not pending:
                break
            ops: list[dict[str, Any]] = []
            for doc in pending:
                ops.append({"index": {"_index": self.index_for(kind, doc.at), "_id": doc.id}})
                ops.append(dict(doc.body))
            response = await self._call(self._bulk, ops)
            retry: list[Doc] = []
            for doc, item in zip(pending, response["items"], strict=True):
                outcome = item.get("index") or next(iter(item.values()))
                status = int(outcome.get("status", 500))
                if status < 300:
                    result.indexed += 1
                elif status in self.RETRYABLE and attempt < self.retries:
                    retry.append(doc)
                else:
                    error = outcome.get("error") or {}
                    reason = (
                        f"{error.get('type', 'error')}: {error.get('reason', '')}"
                        if isinstance(error, dict)
                        else str(error)
                    )
                    result.failures.append(BulkFailure(doc.id, reason.strip(), status))
            if retry:
                await asyncio.sleep(self.policy.delay(attempt, self._rng))
            pending = retry
        return result

    async def create(self, kind: Kind, doc: Doc) -> bool:
        """Write a document only if its id is new: True if this call created it, False if it
        existed (the claim two schedulers race for; exactly one of them wins)."""
        ops = [{"create": {"_index": self.index_for(kind, doc.at), "_id": doc.id}}, dict(doc.body)]
        response = await self._call(self._bulk, ops)
        outcome = next(iter(response["items"][0].values()))
        status = int(outcome.get("status", 500))
        if status == 409:
            return False
        if status >= 300:
            raise SearchUnavailable(f"could not create {kind} {doc.id}: {outcome.get('error')}")
        await self.refresh(kind)
        return True

    async def search(self, kind: Kind, body: Mapping[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(self._search, self.pattern(kind), body)
        return result

    async def scan(
        self,
        kind: Kind,
        query: Mapping[str, Any],
        *,
        page_size: int = 2000,
        sort: Sequence[Mapping[str, Any]] = ({"created_at": "asc"}, {"id": "asc"}),
        fields: Sequence[str] | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every document of a kind matching `query`, oldest first (created_at, then id), one
        page at a time — through a point in time where the engine offers one, so a long read
        (a backtest over months) sees one consistent view while the worker keeps indexing;
        `search_after` pages through it without the deep-paging limit of `from`. `fields`:
        only these fields of each document (`_source` filtering: less to send and decode)."""
        index = self.pattern(kind)
        pit = await self._open_pit(index)
        after: list[Any] | None = None
        try:
            while True:
                body: dict[str, Any] = {
                    "size": page_size,
                    "query": dict(query),
                    "sort": [dict(s) for s in sort],
                }
                if fields is not None:
                    body["_source"] = list(fields)
                if after is not None:
                    body["search_after"] = after
                if pit is not None:
                    body["pit"] = {"id": pit, "keep_alive": PIT_KEEP_ALIVE}
                    response = await self._call(self._search_pit, body)
                    pit = response.get("pit_id", pit)
                else:
                    response = await self._call(self._search, index, body)
                hits = response["hits"]["hits"]
                if not hits:
                    return
                yield [hit["_source"] for hit in hits]
                after = hits[-1]["sort"]
        finally:
            if pit is not None:
                try:
                    await self._close_pit(pit)
                except Exception as exc:  # it expires by itself after PIT_KEEP_ALIVE
                    log.debug("point in time not closed: %s", exc)

    async def _open_pit(self, index: str) -> str | None:
        """A point in time over `index`, or None where the engine has none (the scan then
        pages with search_after alone)."""
        try:
            return await self._create_pit(index)
        except Exception as exc:
            log.info("no point in time on %s (%s); paging without one", index, exc)
            return None

    @abstractmethod
    async def _create_pit(self, index: str) -> str: ...

    @abstractmethod
    async def _search_pit(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    async def _close_pit(self, pit: str) -> None: ...

    async def indices(self, kind: Kind) -> list[str]:
        """The concrete indexes of a kind (monthly ones: one per month with data)."""
        found = await self._call(
            self.client.indices.get,
            index=self.pattern(kind),
            ignore_unavailable=True,
            allow_no_indices=True,
        )
        return sorted(found)

    async def delete_index(self, name: str) -> None:
        if not name.startswith(f"{self.prefix}-"):
            raise ValueError(f"{name} is not one of this deployment's indexes")
        await self._call(self.client.indices.delete, index=name)

    async def delete_by_query(self, kind: Kind, query: Mapping[str, Any]) -> int:
        """Delete the documents of a kind matching `query`; returns how many were deleted."""
        response = await self._call(self._delete_by_query, self.pattern(kind), query)
        return int(response.get("deleted", 0))

    async def count(self, kind: Kind, query: Mapping[str, Any] | None = None) -> int:
        body = {"query": query} if query else {}
        response = await self._call(self._count, self.pattern(kind), body)
        return int(response["count"])

    async def refresh(self, kind: Kind) -> None:
        await self._call(
            self.client.indices.refresh,
            index=self.pattern(kind),
            allow_no_indices=True,
            ignore_unavailable=True,
        )

    async def delete_all(self) -> None:
        """Delete every index and template of this prefix (tests and `earful reset`)."""
        for kind in KINDS:
            # Elasticsearch 8+ refuses wildcard deletes (action.destructive_requires_name), so
            # resolve the pattern to concrete index names first.
            found = await self.client.indices.get(
                index=self.pattern(kind), ignore_unavailable=True, allow_no_indices=True
            )
            for name in found:
                await self.client.indices.delete(index=name)
        for name in index_templates(self.prefix):
            try:
                await self.client.indices.delete_index_template(name=name)
            except Exception as exc:  # absent already
                log.debug("template %s not deleted: %s", name, exc)

    async def close(self) -> None:
        await self.client.close()

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Retry connection errors and 429/5xx with exponential backoff and jitter."""
        for attempt in range(self.retries + 1):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
                transient = self._is_connection_error(exc) or status in self.RETRYABLE
                if status == 400:
                    raise SearchRejected(_reason(exc)) from exc
                if not transient:
                    raise
                if attempt == self.retries:
                    raise SearchUnavailable(f"{self.engine}: {exc}") from exc
                log.warning("%s call failed (%s); retrying", self.engine, exc)
                await asyncio.sleep(self.policy.delay(attempt, self._rng))
        raise AssertionError("unreachable")

    def _is_connection_error(self, exc: BaseException) -> bool:
        kinds = (*self.CONNECTION_ERRORS, ConnectionError, TimeoutError)
        return any(
            isinstance(e, kinds) for e in (exc, exc.__cause__, exc.__context__) if e is not None
        )


def _reason(exc: Exception) -> str:
    """The engine's own words for a refused request (where a query string fails to parse)."""
    for info in (getattr(exc, "info", None), getattr(exc, "body", None)):
        if isinstance(info, dict):
            error = info.get("error", {})
            causes = (error.get("root_cause") or []) if isinstance(error, dict) else []
            for cause in causes:
                if isinstance(cause, dict) and cause.get("reason"):
                    return str(cause["reason"])[:500]
            if isinstance(error, dict) and error.get("reason"):
                return str(error["reason"])[:500]
    return str(exc)[:500]
