"""The care metrics driver: facts in, metric snapshots out at every `metrics_every` boundary.

One class for the stream and the offline report. Facts come from several inbox partitions,
which progress at different speeds (by hours of event time in a fast replay); they are
buffered, and the snapshot for a boundary is produced only once every partition seen has
passed it, so the stream's figures equal an offline computation over the same log.

State is small records, so a busy inbox never produces one larger than a Kafka message and a
batch rewrites only what it touched (the same `changes()` / `load_records()` shape as the
routing dispatcher):

- `f|<5-minute bucket>`: the facts of that bucket still needed (published and buffered alike);
- `w|<conversation>`: a conversation waiting for a reply (the backlog), however old;
- `meta`: each partition's progress and the last published boundary.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.care.conversation import Fact
from alerts.care.metrics import CareMetrics
from alerts.care.records import (
    AggregatorMetaRecord,
    FactBucketRecord,
    FactRecord,
    WaitingRecord,
)

META = "meta"
BUCKET = timedelta(minutes=5)


def bucket_of(at: datetime) -> str:
    step = BUCKET.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // step * step, UTC).isoformat()


class CareMetricsAggregator:
    def __init__(self, window: timedelta, every: timedelta):
        self.window = window
        self.every = every
        self.metrics = CareMetrics(window)
        self.buffer: list[Fact] = []
        #: partition -> newest fact time seen from it
        self.seen: dict[str, str] = {}
        self.published: datetime | None = None
        #: bucket -> stored facts (mirror of the `f|` records)
        self.buckets: dict[str, list[dict[str, Any]]] = {}
        self._touched: set[str] = set()
        self._meta_dirty = False

    # -- input -----------------------------------------------------------------------------
    def accept(self, fact: Fact) -> None:
        bucket = bucket_of(fact.at)
        record = fact.to_dict()
        held = self.buckets.setdefault(bucket, [])
        if record in held:  # sent twice (a crash before its sender's state was kept): once
            return
        self.buffer.append(fact)
        held.append(record)
        self._touched.add(bucket)
        key = str(fact.source)
        if key not in self.seen or fact.at.isoformat() > self.seen[key]:
            self.seen[key] = fact.at.isoformat()
            self._meta_dirty = True

    def publish_due(self, watermark: datetime | None = None) -> list[dict[str, Any]]:
        """Snapshots for every boundary up to the watermark: by default the slowest partition's
        progress; an offline run passes the end of its log."""
        rows: list[dict[str, Any]] = []
        if watermark is None:
            if not self.seen:
                return rows
            watermark = min(datetime.fromisoformat(v) for v in self.seen.values())
        self.buffer.sort(key=lambda f: f.at)
        if self.published is None and self.buffer:
            step = self.every.total_seconds()
            first = self.buffer[0].at
            self.published = datetime.fromtimestamp(first.timestamp() // step * step, first.tzinfo)
        taken = 0
        while self.published is not None and self.published + self.every <= watermark:
            self.published += self.every
            self._meta_dirty = True
            while taken < len(self.buffer) and self.buffer[taken].at < self.published:
                self.metrics.add(self.buffer[taken])
                taken += 1
            rows += self.metrics.snapshot(self.published)
            self.metrics.prune(self.published)
        del self.buffer[:taken]
        return rows

    # -- state -----------------------------------------------------------------------------
    def changes(self) -> dict[str, dict[str, Any] | None]:
        """Records touched since the last call: new values, or None for removed ones."""
        out: dict[str, dict[str, Any] | None] = {}
        if self.published is not None:
            horizon = self.published - self.window * 2
            for bucket in [
                b for b in self.buckets if datetime.fromisoformat(b) + BUCKET <= horizon
            ]:
                del self.buckets[bucket]
                out[f"f|{bucket}"] = None
                self._touched.discard(bucket)
        for bucket in self._touched:
            facts = [FactRecord.model_validate(f) for f in self.buckets[bucket]]
            out[f"f|{bucket}"] = FactBucketRecord(facts=facts).dump()
        for conv in self.metrics.take_changed():
            found = self.metrics.waiting.get(conv)
            out[f"w|{conv}"] = (
                WaitingRecord(since=found[0], channel=found[1]).dump() if found else None
            )
        if self._meta_dirty or self._touched:
            out[META] = AggregatorMetaRecord(
                partitions={k: datetime.fromisoformat(v) for k, v in self.seen.items()},
                published=self.published,
            ).dump()
        self._touched.clear()
        self._meta_dirty = False
        return out

    def load_records(self, items: Iterable[tuple[str, dict[str, Any] | None]]) -> None:
        self.metrics = CareMetrics(self.window)
        self.buffer, self.seen, self.published, self.buckets = [], {}, None, {}
        self._touched.clear()
        self._meta_dirty = False
        waiting: dict[str, tuple[datetime, str]] = {}
        for key, value in items:
            if not value:
                continue
            if key == META:
                meta = AggregatorMetaRecord.model_validate(value)
                self.seen = {k: at.isoformat() for k, at in meta.partitions.items()}
                self.published = meta.published
            elif key.startswith("f|"):
                bucket = FactBucketRecord.model_validate(value)
                self.buckets[key[2:]] = [f.dump() for f in bucket.facts]
            elif key.startswith("w|"):
                wait = WaitingRecord.read(value)
                waiting[key[2:]] = (wait.since, wait.channel)
        facts = sorted(
            (Fact.from_dict(f) for b in self.buckets.values() for f in b), key=lambda f: f.at
        )
        for fact in facts:
            if self.published is not None and fact.at < self.published:
                self.metrics.add(fact)
            else:
                self.buffer.append(fact)
        # the backlog is kept on its own: a wait can outlast the facts that started it
        self.metrics.restore_waiting(waiting)
        if self.published is not None:
            self.metrics.prune(self.published)


def periodic_snapshots(
    facts: Iterable[Fact], window: timedelta, every: timedelta, until: datetime
) -> list[dict[str, Any]]:
    """Snapshots at every boundary up to `until`, as the stream publishes them (the snapshot at
    B covers the facts before B): the same driver, fed the whole log at once."""
    aggregator = CareMetricsAggregator(window, every)
    for fact in facts:
        aggregator.accept(fact)
    return aggregator.publish_due(until)
