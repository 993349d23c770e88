"""Detector states kept in two tables: the whole state now and then, and in between only what
changed.

A brand's detector state (alerts/state.py) is one record of up to ~200 kB, most of it the rules'
baselines (the emerging-term vocabulary alone is ~80% at a busy brand). Those change only when
a bucket closes; a mention changes the open buckets and a few counters (~7 kB at that brand).
Written whole after every batch, a live stream (batches of a mention or two) made Kafka write
the whole state per mention; `make bench` measured 1.6 kB a mention even in a fast replay, more
than the mentions themselves.

So `SplitStates` writes a brand's **full** record to one table now and then, and otherwise only
its **open** part to a second table with the same key (the same partition, so both move
together on a rebalance): the open buckets, offsets and clocks, and the buckets closed since the
full record (`max_pending` at most, 12 = an hour; the engine holds them anyway for its windows).
How often a full record is written is a rent-or-buy rule: once the open parts carrying closed
buckets have cost as much as a full record, the next write is one (about hourly for a large
state and few mentions a bucket, every few closes for a busy brand, every close for a small
state). Reading merges them: the full record, its closes run again over the buckets the open
part carries (the same engine, the same buckets and gaps, so the same rule states up to the
rounding of stored floats; the alerts they raise were sent before the part was written, and are
dropped), then the open buckets. Each write carries a per-brand sequence number, and the open
part the close of the full record it builds on, so a read never mixes records:

- the open part is applied only if it was written after the full record (`seq`) *and* on top
  of that very record (`from`); otherwise the full record stands alone, and it is a whole
  state of its own (at-least-once input: what came after its offset is read again);
- a full record is durable before any later open part is written (`persisted`: the step waits
  for the producer after writing one), so an open part of a newer close can never outlive the
  full record it belongs to; Faust flushes the producer before committing input offsets, so the
  input is never committed past what the two tables hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from alerts.buckets import Bucket
from alerts.engine import DetectionEngine
from alerts.state import KeyState
from streams.messages import KeptRecords
from streams.state_codec import dumps

#: The record's fields that a mention may change (every other field changes when buckets close).
OPEN_FIELDS = ("v", "closed_until", "first_event", "max_event", "late", "partition", "offset")


def open_part(record: dict[str, Any], seq: int, since: Any = None) -> dict[str, Any]:
    """What of a state record changed since the full one written at close `since` (default:
    this record's own close): the open buckets, clocks and offsets, and the buckets closed
    since."""
    since = record.get("closed_until") if since is None else since
    part = {name: record[name] for name in OPEN_FIELDS if name in record}
    part["seq"], part["from"] = seq, since
    part["series"] = {
        sid: {
            "open": series["open"],
            "last": series.get("last", 0),
            "closed": [
                b for b in series.get("closed", ()) if since is not None and b["start"] >= since
            ],
        }
        for sid, series in record["series"].items()
    }
    return part


def _applies(full: dict[str, Any], part: dict[str, Any] | None) -> bool:
    return (
        part is not None
        and part.get("from", part.get("closed_until")) == full.get("closed_until")
        and part.get("seq", 0) > full.get("seq", 0)
    )


def merged(
    full: dict[str, Any],
    part: dict[str, Any] | None,
    engine: DetectionEngine | None = None,
    key: str = "",
) -> dict[str, Any]:
    """The state: the full record, with the open part written after it on top of it (its
    closes run again by `engine` where the part carries any)."""
    if part is None or not _applies(full, part):
        return full
    if part.get("closed_until") != full.get("closed_until"):
        if engine is None:
            return full  # closes to run again, and nothing to run them: the whole record
        return _closed_again(full, part, engine, key)
    out = {**full, **{k: v for k, v in part.items() if k not in ("series", "from")}}
    series = dict(full["series"])
    for sid, found in part["series"].items():
        base = series.get(sid) or {"closed": [], "rules": {}, "episodes": {}}
        series[sid] = {**base, "open": found["open"], "last": found["last"]}
    out["series"] = series
    return out


def _closed_again(
    full: dict[str, Any], part: dict[str, Any], engine: DetectionEngine, key: str
) -> dict[str, Any]:
    """The full record's state, its buckets closed again up to the part's close (the same
    buckets and gaps: the same rule states and episodes), then the part's open buckets."""
    state = KeyState.from_dict(full)
    for name in ("first_event", "max_event", "late", "partition", "offset"):
        if name in part:
            setattr(state, name, part[name])
    gaps: set[int] = set()
    for sid, found in part["series"].items():
        series = state.series[sid]
        series.open = {b["start"]: Bucket.from_dict(b) for b in found["closed"]}
        series.last_data = found["last"]
        gaps.update(b["start"] for b in found["closed"] if b.get("gap"))
    engine.advance(state, key, part["closed_until"], gaps.__contains__)  # its alerts were sent
    for sid, found in part["series"].items():
        state.series[sid].open = {b["start"]: Bucket.from_dict(b) for b in found["open"]}
    out = state.to_dict()
    out["seq"] = part["seq"]
    return out


class SplitStates:
    """The detection driver's `StateStore` over two tables (see the module docstring)."""

    def __init__(
        self,
        full: KeptRecords,
        open_parts: KeptRecords,
        flush: Callable[[], Awaitable[None]] | None = None,
        *,
        engine: DetectionEngine | None = None,
        max_pending: int = 12,
    ):
        self.full = full
        self.open_parts = open_parts
        self._flush = flush
        #: Runs closes again on reading (None: a full record at every close).
        self.engine = engine
        self.max_pending = max_pending
        #: Per brand: the sequence number of its last write, and the close and series of its
        #: full record.
        self._seq: dict[str, int] = {}
        self._closed: dict[str, Any] = {}
        self._series: dict[str, set[str]] = {}
        #: Per brand: the stored size of its full record, and of the open parts carrying closed
        #: buckets written since (`__setitem__`).
        self._size: dict[str, int] = {}
        self._spent: dict[str, int] = {}
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
        self._series[key] = set(full["series"])
        self._size[key] = len(dumps(full))
        return merged(full, part, self.engine, key)

    def __setitem__(self, key: str, record: dict[str, Any]) -> None:
        seq = self._seq.get(key, 0) + 1
        self._seq[key] = seq
        if key in self._closed and self._pending_held(key, record):
            part = open_part(record, seq, self._closed[key])
            if part["closed_until"] == part["from"]:
                self.open_parts[key] = part
                self.writes["open"] += 1
                return
            # Parts that carry closed buckets grow with every close: once they have cost as
            # much as a full record, the next write is one (a rent-or-buy rule: never more than
            # twice the best cadence in hindsight). A brand with a large state and few mentions
            # a bucket writes it about hourly, a busy one every few closes.
            spent = self._spent.get(key, 0) + len(dumps(part))
            if spent <= self._size[key]:
                self.open_parts[key] = part
                self._spent[key] = spent
                self.writes["open"] += 1
                return
        full = self.full[key] = {**record, "seq": seq}
        self._size[key], self._spent[key] = len(dumps(full)), 0
        self._closed[key] = record.get("closed_until")
        self._series[key] = set(record["series"])
        self._unflushed = True
        self.writes["full"] += 1

    def _pending_held(self, key: str, record: dict[str, Any]) -> bool:
        """Whether an open part can carry what closed since the full record: no more than
        `max_pending` closes, every one of them still held by the engine, the same series (a
        series made or pruned since would close differently when run again)."""
        since, until = self._closed[key], record.get("closed_until")
        if since == until:
            return True
        if since is None or until is None or self.engine is None:
            return False
        step = self.engine.bucket_s
        if (until - since) // step > self.max_pending or set(record["series"]) != self._series[key]:
            return False
        closes = set(range(since, until, step))
        return all(
            closes <= {b["start"] for b in series["closed"]} for series in record["series"].values()
        )

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        parts = dict(self.open_parts.items())
        return iter(
            [
                (key, merged(full, parts.get(key), self.engine, key))
                for key, full in self.full.items()
            ]
        )

    def invalidate(self) -> None:
        """Partitions moved: what this worker remembers of the tables is re-read on next use."""
        self._seq.clear()
        self._closed.clear()
        self._series.clear()
        self._size.clear()
        self._spent.clear()

    async def persisted(self) -> None:
        """Wait until the full records written so far are in Kafka (before any open part
        written after them can be)."""
        if self._unflushed and self._flush is not None:
            await self._flush()
        self._unflushed = False
