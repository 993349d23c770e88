"""The care metrics aggregator: facts in, metric snapshots out every `metrics_every`.

Facts come from several inbox partitions, which progress at different speeds (by hours of event
time in a fast replay). They are buffered, and the snapshot for a period boundary is published
only once every partition seen has passed it, so the stream's figures equal an offline
computation over the same log.

State lives in a one-partition table as small records, so a busy inbox never produces a record
larger than a Kafka message and a batch rewrites only what it touched:

- `f|<5-minute bucket>`: the facts of that bucket still needed (published and buffered alike);
- `w|<conversation>`: a conversation waiting for a reply (the backlog), however old;
- `meta`: each partition's progress and the last published boundary.

The worker holding the partition keeps the state in memory and rebuilds it from the table when
it starts or the partition moves.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.care.conversation import Fact
from alerts.care.metrics import CareMetrics
from alerts.care.policies import CarePolicies
from earful.codec import InvalidMessage, decode_json
from streams.deadletters import DeadLetters, invalid
from streams.messages import Msg, Outbox, Records
from streams.search.base import Doc, SearchStore

META = "meta"
BUCKET = timedelta(minutes=5)


def bucket_of(at: datetime) -> str:
    step = BUCKET.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // step * step, UTC).isoformat()


class CareMetricsStep:
    def __init__(
        self,
        policies: CarePolicies,
        state: Records,
        store: Callable[[], Awaitable[SearchStore]],
        outbox: Outbox,
        deadletters: DeadLetters,
    ):
        self.policies = policies
        self.state = state
        self._store = store
        self.outbox = outbox
        self.deadletters = deadletters
        self._loaded = False
        self.metrics = CareMetrics(policies.metrics_window)
        self.buffer: list[Fact] = []
        self.seen: dict[str, str] = {}
        self.published: datetime | None = None
        #: bucket -> stored facts (mirror of the `f|` records)
        self.buckets: dict[str, list[dict[str, Any]]] = {}

    def invalidate(self) -> None:
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self.metrics = CareMetrics(self.policies.metrics_window)
        self.buffer, self.seen, self.published, self.buckets = [], {}, None, {}
        waiting: dict[str, tuple[datetime, str]] = {}
        for key, value in self.state.items():
            if not value:
                continue
            if key == META:
                self.seen = dict(value.get("partitions", {}))
                published = value.get("published")
                self.published = datetime.fromisoformat(published) if published else None
            elif key.startswith("f|"):
                self.buckets[key[2:]] = list(value["facts"])
            elif key.startswith("w|"):
                since, channel = value["waiting"]
                waiting[key[2:]] = (datetime.fromisoformat(since), channel)
        facts = sorted(
            (Fact.from_dict(f) for b in self.buckets.values() for f in b), key=lambda f: f.at
        )
        for fact in facts:
            if self.published is not None and fact.at < self.published:
                self.metrics.add(fact)
            else:
                self.buffer.append(fact)
        # the backlog is kept on its own: a wait can outlast the facts that started it
        self.metrics.waiting = waiting
        self.metrics.changed.clear()
        if self.published is not None:
            self.metrics.prune(self.published)
        self._loaded = True

    def _accept(self, fact: Fact) -> None:
        self.buffer.append(fact)
        self.buckets.setdefault(bucket_of(fact.at), []).append(fact.to_dict())
        key = str(fact.source)
        if key not in self.seen or fact.at.isoformat() > self.seen[key]:
            self.seen[key] = fact.at.isoformat()

    async def handle(self, batch: Sequence[Msg]) -> list[dict[str, Any]]:
        self._load()
        touched: set[str] = set()
        for msg in batch:
            try:
                fact = Fact.from_dict(decode_json(msg.value or b""))
            except (InvalidMessage, KeyError, ValueError, TypeError) as exc:
                await self.deadletters.send(msg, invalid(exc, "not a care fact"))
                continue
            self._accept(fact)
            touched.add(bucket_of(fact.at))
        rows = self._publish_due()
        self._save(touched)
        if rows:
            store = await self._store()
            await store.bulk_index(
                "care-metrics",
                [
                    Doc(f"{r['at']}|{r['scope']}|{r['key']}", r, datetime.fromisoformat(r["at"]))
                    for r in rows
                ],
            )
            for row in rows:
                await self.outbox.send(
                    "care_metrics", f"{row['scope']}:{row['key']}", json.dumps(row).encode()
                )
        return rows

    def _publish_due(self) -> list[dict[str, Any]]:
        """Snapshots for every boundary all partitions have passed."""
        rows: list[dict[str, Any]] = []
        if not self.seen:
            return rows
        every = self.policies.metrics_every
        watermark = min(datetime.fromisoformat(v) for v in self.seen.values())
        self.buffer.sort(key=lambda f: f.at)
        if self.published is None and self.buffer:
            step = every.total_seconds()
            self.published = datetime.fromtimestamp(
                self.buffer[0].at.timestamp() // step * step, UTC
            )
        taken = 0
        while self.published is not None and self.published + every <= watermark:
            self.published += every
            while taken < len(self.buffer) and self.buffer[taken].at < self.published:
                self.metrics.add(self.buffer[taken])
                taken += 1
            rows += self.metrics.snapshot(self.published)
            self.metrics.prune(self.published)
        del self.buffer[:taken]
        return rows

    def _save(self, touched: set[str]) -> None:
        by_key: dict[str, dict[str, Any] | None] = defaultdict(lambda: None)
        if self.published is not None:
            horizon = self.published - self.metrics.window * 2
            for bucket in [
                b for b in self.buckets if datetime.fromisoformat(b) + BUCKET <= horizon
            ]:
                del self.buckets[bucket]
                by_key[f"f|{bucket}"] = None
                touched.discard(bucket)
        for bucket in touched:
            by_key[f"f|{bucket}"] = {"facts": self.buckets[bucket]}
        for conv in self.metrics.changed:
            found = self.metrics.waiting.get(conv)
            by_key[f"w|{conv}"] = (
                {"waiting": [found[0].isoformat(), found[1]]} if found is not None else None
            )
        self.metrics.changed.clear()
        by_key[META] = {
            "partitions": self.seen,
            "published": self.published.isoformat() if self.published else None,
        }
        for key, value in by_key.items():
            if value is not None:
                self.state[key] = value
            elif self.state.get(key) is not None:
                del self.state[key]
