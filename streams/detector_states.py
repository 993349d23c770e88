"""Detector states kept in two tables: the whole state when buckets close, and between closes
only what a mention changes.

A brand's detector state (alerts/state.py) is one record of up to ~200 kB, most of it the rules'
baselines (the emerging-term vocabulary alone is ~80% at a busy brand). Those change only when
a bucket closes; a mention changes the open buckets and a few counters (~7 kB at that brand).
Written whole after every batch, a live stream (batches of a mention or two) made Kafka write
the whole state per mention; `make bench` measured 1.6 kB a mention even in a fast replay, more
than the mentions themselves.

So `SplitStates` writes a brand's **full** record to one table when its buckets have closed
since the last full record, and otherwise only its **open** part (open buckets, offsets,
clocks) to a second table with the same key (the same partition, so both move together on a
rebalance). Reading merges them. Each write carries a per-brand sequence number, and the open
part the bucket it was closed to, so a read never mixes records of different closes:

- the open part is applied only if it was written after the full record (`seq`) *and* on the
  same close (`closed_until`); otherwise the full record stands alone, and it is a whole state
  of its own (at-least-once input: what came after its offset is read again);
- a full record is durable before any later open part is written (`persisted`: the step waits
  for the producer after writing one), so an open part of a newer close can never outlive the
  full record it belongs to; Faust flushes the producer before committing input offsets, so the
  input is never committed past what the two tables hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from streams.messages import KeptRecords

#: The record's fields that a mention may change (every other field changes when buckets close).
OPEN_FIELDS = ("v", "closed_until", "first_event", "max_event", "late", "partition", "offset")


def open_part(record: dict[str, Any], seq: int) -> dict[str, Any]:
    """What of a state record a mention can change: the open buckets, clocks and offsets."""
    part = {name: record[name] for name in OPEN_FIELDS if name in record}
    part["seq"] = seq
    part["series"] = {
        sid: {"open": series["open"], "last": series.get("last", 0)}
        for sid, series in record["series"].items()
    }
    return part


def merged(full: dict[str, Any], part: dict[str, Any] | None) -> dict[str, Any]:
    """The state: the full record, with the open part written after it on the same close."""
    if (
        part is None
        or part.get("closed_until") != full.get("closed_until")
        or part.get("seq", 0) <= full.get("seq", 0)
    ):
        return full
    out = {**full, **{k: v for k, v in part.items() if k != "series"}}
    series = dict(full["series"])
    for sid, found in part["series"].items():
        base = series.get(sid) or {"closed": [], "rules": {}, "episodes": {}}
        series[sid] = {**base, "open": found["open"], "last": found["last"]}
    out["series"] = series
    return out


class SplitStates:
    """The detection driver's `StateStore` over two tables (see the module docstring)."""

    def __init__(
        self,
        full: KeptRecords,
        open_parts: KeptRecords,
        flush: Callable[[], Awaitable[None]] | None = None,
    ):
        self.full = full
        self.open_parts = open_parts
        self._flush = flush
        #: Per brand: the sequence number of its last write, and the close of its full record.
        self._seq: dict[str, int] = {}
        self._closed: dict[str, Any] = {}
        self._unflushed = False
        #: Records written, by table (for the benchmark and tests).
        self.writes = {"full": 0, "open": 0}

    def get(self, key: str) -> dict[str, Any] | None:
        full = self.full.get(key)
        if full is None:
            return None
        part = self.open_parts.get(key)
        self._seq[key] = max(full.get("seq", 0), part.get("seq", 0) if part else 0)
        self._closed[key] = full.get("closed_until")
        return merged(full, part)

    def __setitem__(self, key: str, record: dict[str, Any]) -> None:
        seq = self._seq.get(key, 0) + 1
        self._seq[key] = seq
        if key in self._closed and self._closed[key] == record.get("closed_until"):
            self.open_parts[key] = open_part(record, seq)
            self.writes["open"] += 1
            return
        self.full[key] = {**record, "seq": seq}
        self._closed[key] = record.get("closed_until")
        self._unflushed = True
        self.writes["full"] += 1

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        parts = dict(self.open_parts.items())
        return iter([(key, merged(full, parts.get(key))) for key, full in self.full.items()])

    def invalidate(self) -> None:
        """Partitions moved: what this worker remembers of the tables is re-read on next use."""
        self._seq.clear()
        self._closed.clear()

    async def persisted(self) -> None:
        """Wait until the full records written so far are in Kafka (before any open part
        written after them can be)."""
        if self._unflushed and self._flush is not None:
            await self._flush()
        self._unflushed = False
