"""Trend rollups: the mention index summed per 5-minute and 1-hour bucket.

Each rollup document counts mentions (and sums reach and engagement) for one bucket x brand x
topic x sentiment x language x platform, with `_all` where a dimension is summed over (a
mention naming two brands or three topics counts once in `_all`). Rollups are *recomputed from
the mention index* for every bucket that received mentions, never incremented, so a replayed
or redelivered batch cannot count twice, and `earful rollups rebuild` restores any range.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.search.base import Doc, SearchStore

log = logging.getLogger(__name__)

ALL = "_all"
INTERVALS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1)}
FIELDS = {
    "brand": "brands",
    "topic": "topics",
    "sentiment": "sentiment.label",
    "lang": "lang",
    "platform": "platform",
}
DIMENSIONS = tuple(FIELDS)


@dataclass(frozen=True)
class Family:
    """One set of rollup documents: the dimensions kept (the others are `_all`)."""

    interval: str
    dims: tuple[str, ...]


#: Hourly: by language and platform, or by topic (never both: their product would be nearly as
#: large as the mentions). Five-minute: brand and sentiment only. Each is written with and
#: without the brand (a mention naming two brands counts once in the brand `_all` documents).
FAMILIES: tuple[Family, ...] = tuple(
    Family(interval, dims if by_brand else tuple(d for d in dims if d != "brand"))
    for interval, dims in (
        ("1h", ("brand", "sentiment", "lang", "platform")),
        ("1h", ("brand", "topic", "sentiment")),
        ("5m", ("brand", "sentiment")),
    )
    for by_brand in (True, False)
)


def floor(at: datetime, step: timedelta) -> datetime:
    seconds = step.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // seconds * seconds, UTC)


def composite_body(
    start: datetime, end: datetime, family: Family, after: dict[str, Any] | None
) -> dict[str, Any]:
    sources: list[dict[str, Any]] = [
        {"bucket": {"date_histogram": {"field": "created_at", "fixed_interval": family.interval}}}
    ]
    for dim in family.dims:
        terms: dict[str, Any] = {"field": FIELDS[dim]}
        if dim not in ("brand", "topic"):
            terms["missing_bucket"] = True
        sources.append({dim: {"terms": terms}})
    composite: dict[str, Any] = {"size": 1000, "sources": sources}
    if after:
        composite["after"] = after
    return {
        "size": 0,
        "query": {"range": {"created_at": {"gte": start.isoformat(), "lt": end.isoformat()}}},
        "aggs": {
            "rollup": {
                "composite": composite,
                "aggs": {
                    "reach": {"sum": {"field": "reach"}},
                    "engagement": {"sum": {"field": "engagement_total"}},
                    "score": {"sum": {"field": "sentiment.score"}},
                },
            }
        },
    }


def rollup_doc(family: Family, key: dict[str, Any], bucket: dict[str, Any]) -> Doc:
    at = datetime.fromtimestamp(key["bucket"] / 1000, UTC)
    body: dict[str, Any] = {"interval": family.interval, "bucket": at.isoformat()}
    for dim in DIMENSIONS:
        body[dim] = (key.get(dim) or "_none") if dim in family.dims else ALL
    body.update(
        count=int(bucket["doc_count"]),
        reach=int(bucket["reach"]["value"] or 0),
        engagement=int(bucket["engagement"]["value"] or 0),
        score_sum=float(bucket["score"]["value"] or 0.0),
    )
    ident = "|".join(str(body[k]) for k in ("interval", "bucket", *DIMENSIONS))
    return Doc(hashlib.sha1(ident.encode()).hexdigest(), body, at)


#: A rebuild writes and cleans up this much time at once (the ids it keeps must fit one query).
REBUILD_CHUNK = timedelta(hours=6)


async def rebuild(store: SearchStore, start: datetime, end: datetime) -> int:
    """Recompute every rollup of the buckets in [start, end); returns documents written.

    The new documents are written first (their ids are fixed by bucket and dimensions, so they
    replace the old ones in place), then the bucket's documents that were not rewritten are
    deleted, so a combination that no longer occurs (a mention re-scored into another
    sentiment) leaves no stale count behind. A reader never sees a bucket empty in between
    (deleting first did: a correction's rebuild racing the worker's showed an hour empty)."""
    written = 0
    for interval, step in INTERVALS.items():
        lo, hi = floor(start, step), floor(end - timedelta(microseconds=1), step) + step
        while lo < hi:
            upto = min(lo + REBUILD_CHUNK, hi)
            written += await _rebuild_range(store, interval, lo, upto)
            lo = upto
    return written


async def _rebuild_range(store: SearchStore, interval: str, lo: datetime, hi: datetime) -> int:
    kept: list[str] = []
    written = 0
    for family in (f for f in FAMILIES if f.interval == interval):
        after = None
        while True:
            result = await store.search("mentions", composite_body(lo, hi, family, after))
            agg = result.get("aggregations", {}).get("rollup", {})
            docs = [rollup_doc(family, b["key"], b) for b in agg.get("buckets", [])]
            if docs:
                outcome = await store.bulk_index("rollups", docs)
                written += outcome.indexed
                # a document that failed to write keeps its old version: kept, not deleted
                kept.extend(d.id for d in docs)
                for failure in outcome.failures:
                    log.warning("rollup %s not rewritten: %s", failure.id, failure.reason)
            after = agg.get("after_key")
            if not after or not docs:
                break
    stale: dict[str, Any] = {
        "filter": [
            {"term": {"interval": interval}},
            {"range": {"bucket": {"gte": lo.isoformat(), "lt": hi.isoformat()}}},
        ]
    }
    if kept:
        stale["must_not"] = [{"ids": {"values": kept}}]
    await store.delete_by_query("rollups", {"bool": stale})
    return written


def ranges(buckets: Iterable[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Touched buckets merged into contiguous [start, end) ranges."""
    out: list[tuple[datetime, datetime]] = []
    for b in sorted(set(buckets)):
        if out and out[-1][1] >= b:
            out[-1] = (out[-1][0], max(out[-1][1], b + step))
        else:
            out.append((b, b + step))
    return out


#: How far before the newest indexed mention `RollupStep.recover` looks (see there).
RECOVER_LOOKBACK = timedelta(minutes=10)
#: Event time one histogram request of `recover` covers (hours: under the bucket limit).
RECOVER_SLICE = timedelta(hours=20_000)


class RollupStep:
    """Remembers the buckets new mentions landed in, and recomputes them once the search
    engine has made those mentions searchable (its refresh interval, 1 s).

    What it remembers is in memory: a worker killed between indexing a batch (its offsets then
    committed) and the next flush would leave those hours' rollups short for good. `recover`
    (at start, after each rebalance) marks again the hours of everything indexed shortly
    before the newest mention in the index."""

    def __init__(
        self,
        store: Callable[[], Any],
        *,
        settle_s: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._store = store
        self.settle_s = settle_s
        self.monotonic = monotonic
        self.touched: dict[datetime, float] = {}

    def touch(self, created: Iterable[datetime]) -> None:
        now = self.monotonic()
        for at in created:
            self.touched[floor(at, INTERVALS["1h"])] = now

    async def recover(self, lookback: timedelta = RECOVER_LOOKBACK) -> int:
        """Mark the hours of the mentions indexed within `lookback` of the newest one (the
        ones a killed worker may not have rolled up); returns how many hours were marked.

        Measured from the newest mention, not from now: a worker that was down for a day
        still finds what it indexed just before it died."""
        store = await self._store()
        await store.refresh("mentions")
        newest = await store.search(
            "mentions", {"size": 0, "aggs": {"newest": {"max": {"field": "indexed_at"}}}}
        )
        value = newest.get("aggregations", {}).get("newest", {}).get("value")
        if value is None:
            return 0
        since = datetime.fromtimestamp(value / 1000, UTC) - lookback
        recent = {"range": {"indexed_at": {"gte": since.isoformat()}}}
        span = await store.search(
            "mentions",
            {
                "size": 0,
                "query": recent,
                "aggs": {
                    "first": {"min": {"field": "created_at"}},
                    "last": {"max": {"field": "created_at"}},
                },
            },
        )
        aggs = span.get("aggregations", {})
        first, last = aggs.get("first", {}).get("value"), aggs.get("last", {}).get("value")
        if first is None or last is None:
            return 0
        # A plain histogram per slice of event time (a backfill may span years; a slice stays
        # under the engine's bucket limit). Not a composite one: OpenSearch 2.19 fails a
        # single-date_histogram composite's second page (array_index_out_of_bounds).
        hour = INTERVALS["1h"]
        lo = floor(datetime.fromtimestamp(first / 1000, UTC), hour)
        end = floor(datetime.fromtimestamp(last / 1000, UTC), hour) + hour
        hours: list[datetime] = []
        histogram = {"field": "created_at", "fixed_interval": "1h", "min_doc_count": 1}
        while lo < end:
            hi = min(lo + RECOVER_SLICE, end)
            slice_ = {"range": {"created_at": {"gte": lo.isoformat(), "lt": hi.isoformat()}}}
            result = await store.search(
                "mentions",
                {
                    "size": 0,
                    "query": {"bool": {"filter": [recent, slice_]}},
                    "aggs": {"hours": {"date_histogram": histogram}},
                },
            )
            found = result.get("aggregations", {}).get("hours", {}).get("buckets", [])
            hours += [datetime.fromtimestamp(b["key"] / 1000, UTC) for b in found]
            lo = hi
        self.touch(hours)
        return len(hours)

    async def flush(self) -> int:
        ready = [b for b, at in self.touched.items() if self.monotonic() - at >= self.settle_s]
        if not ready:
            return 0
        store = await self._store()
        await store.refresh("mentions")
        written = 0
        for start, end in ranges(ready, INTERVALS["1h"]):
            written += await rebuild(store, start, end)
        for b in ready:
            if self.monotonic() - self.touched.get(b, 0) >= self.settle_s:
                self.touched.pop(b, None)
        return written
