"""Agent step `index`: scored mentions -> search index, in bulk, idempotent by mention id.

If the cluster is unreachable the step waits and retries rather than acknowledging messages it
could not write (the stream backs up; nothing is lost). Documents the engine *rejects* (mapping
conflicts) go to the dead-letter topic with the engine's reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from earful.codec import InvalidMessage, decode_record
from earful.records import ScoredMention
from earful.text import hashtags
from streams import metrics
from streams.deadletters import DeadLetters
from streams.labels import apply_correction, find_labels
from streams.messages import Msg
from streams.rollups import RollupStep
from streams.search.base import Doc, SearchStore, SearchUnavailable

log = logging.getLogger(__name__)


def mention_document(
    m: ScoredMention, *, indexed_at: datetime, with_embedding: bool = False
) -> dict[str, Any]:
    body = m.model_dump(mode="json", exclude=None if with_embedding else {"embedding"})
    body["hashtags"] = hashtags(m.text)
    body["reach"] = m.author.followers
    body["engagement_total"] = sum(
        v for k, v in (body.get("engagement") or {}).items() if k != "views" and v
    )
    body["indexed_at"] = indexed_at.isoformat()
    return body


class IndexStep:
    def __init__(
        self,
        store: Callable[[], Awaitable[SearchStore]],
        deadletters: DeadLetters,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        with_embeddings: bool = False,
        retry_pause_s: float = 5.0,
        rollups: RollupStep | None = None,
        apply_labels: bool = False,
    ):
        self._store = store
        self.deadletters = deadletters
        self.clock = clock
        self.with_embeddings = with_embeddings
        self.retry_pause_s = retry_pause_s
        #: Told which buckets got mentions, to recompute their trend rollups.
        self.rollups = rollups
        #: Documents held while the search engine is unavailable (shown in /healthz).
        self.backlog = 0
        #: Lay people's corrections (labels index) over what the model said, so a re-scored or
        #: redelivered mention keeps its correction.
        self.apply_labels = apply_labels

    async def handle(self, batch: Sequence[Msg]) -> int:
        by_id: dict[str, tuple[Msg, Doc]] = {}
        now = self.clock()
        for msg in batch:
            try:
                m = decode_record(msg.value or b"", ScoredMention)
            except InvalidMessage as exc:
                metrics.DEADLETTERS.labels(stage="index", error=exc.error_type).inc()
                await self.deadletters.send(msg, exc)
                continue
            body = mention_document(m, indexed_at=now, with_embedding=self.with_embeddings)
            by_id[m.id] = (msg, Doc(id=m.id, body=body, at=m.created_at))
        if not by_id:
            return 0
        while True:
            try:
                # opening the store asks the server its version: that too waits out an outage
                store = await self._store()
                if self.apply_labels:
                    for ident, c in (await find_labels(store, list(by_id))).items():
                        msg, doc = by_id[ident]
                        by_id[ident] = (msg, Doc(ident, apply_correction(doc.body, c), doc.at))
                result = await store.bulk_index("mentions", [d for _, d in by_id.values()])
                break
            except SearchUnavailable as exc:
                self.backlog = len(by_id)
                metrics.INDEX_BACKLOG.set(len(by_id))
                metrics.INDEX_RETRIES.inc()
                log.error(
                    "search engine unavailable (%s); holding %d documents and retrying in %.0fs",
                    exc,
                    len(by_id),
                    self.retry_pause_s,
                )
                await asyncio.sleep(self.retry_pause_s)
        self.backlog = 0
        metrics.INDEX_BACKLOG.set(0)
        if self.rollups is not None:
            self.rollups.touch(doc.at for _, doc in by_id.values() if doc.at is not None)
        for failure in result.failures:
            msg, _ = by_id[failure.id]
            metrics.DEADLETTERS.labels(stage="index", error="index_rejected").inc()
            await self.deadletters.send(
                msg,
                InvalidMessage(
                    f"search engine rejected the document (HTTP {failure.status}): "
                    f"{failure.reason}",
                    "index_rejected",
                ),
            )
        metrics.INDEXED.labels(kind="mentions").inc(result.indexed)
        return result.indexed
