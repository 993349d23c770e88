"""The detection driver: the one event-time loop behind both the Faust `detect` step and the
offline replay (`earful eval detect`, backtests), so the stream and the evaluation are the same
code by construction.

It owns what the engine deliberately does not:

- one event-time clock per partition (a *lane*): partitions of `mentions.by-brand` progress at
  different speeds, and a brand is judged by its own partition's time. Offline there is one lane;
- within a lane, one clock per *source* (the input partition the mention was read from): while a
  backlog is read, one input partition can run hours ahead of another, and a lane's time is the
  slowest source that is still sending (one idle for `idle_s` of wall time stops holding it
  back), so the slower partitions' mentions are not "late" (Flink's watermark, per input);
- the watermark: each time a lane's watermark crosses a bucket boundary, every brand on that lane
  is advanced, so quiet brands' windows close too (no wall-clock timer decides when);
- gap tracking per lane: a run of buckets in which nothing arrived from anywhere on the lane is an
  ingestion gap, neither judged nor learned from;
- the state cache: brands' `KeyState`s stay decoded in memory; only the ones a batch touched are
  written back to the store (a Faust table in the worker), and the cache is dropped when the
  worker's partitions change (`invalidate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerts.activity import ActivityTracker
from alerts.engine import DetectionEngine
from alerts.observation import Observation
from alerts.state import KeyState
from earful.records import Alert


class StateStore(Protocol):
    """Brand -> state record (JSON-safe dict): a Faust table in the worker, a dict in tests."""

    def get(self, key: str) -> dict[str, Any] | None: ...
    def __setitem__(self, key: str, value: dict[str, Any]) -> None: ...
    def items(self) -> Iterator[tuple[str, dict[str, Any]]]: ...


@dataclass
class LaneClock:
    """Event time of one lane: the highest event time per source, and when each last sent."""

    sources: dict[int, int] = field(default_factory=dict)
    seen: dict[int, float] = field(default_factory=dict)
    time: int = -1

    def settle(self, now: float, idle_s: float) -> int:
        """The lane's time: the slowest source still sending; never moves backwards."""
        if len(self.sources) == 1:
            slowest = next(iter(self.sources.values()))
        else:
            active = [t for s, t in self.sources.items() if now - self.seen[s] <= idle_s]
            slowest = min(active) if active else max(self.sources.values())
        self.time = max(self.time, slowest)
        return self.time


@dataclass
class DriverStats:
    observations: int = 0
    #: Observations later than the rules' allowed lateness (left out of detection, counted).
    late: int = 0
    #: Observations read again after a crash, already in the state (left out, counted).
    replayed: int = 0


class DetectionDriver:
    def __init__(
        self,
        engine: DetectionEngine,
        store: StateStore | None = None,
        *,
        min_gap_buckets: int = 3,
        idle_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.engine = engine
        self.idle_s = idle_s
        self.monotonic = monotonic
        #: Where states persist; None offline (the cache is then the only copy).
        self.store = store
        self.min_gap_buckets = min_gap_buckets
        self.clocks: dict[int, LaneClock] = {}
        self.activity: dict[int, ActivityTracker] = {}
        #: Bucket start every brand of the lane has been advanced to.
        self.advanced: dict[int, int] = {}
        self.cache: dict[str, KeyState] = {}
        #: Brands per lane; None until read from the store (first use, after `invalidate`).
        self.members: dict[int, set[str]] | None = None if store is not None else {}
        self.stats = DriverStats()

    # -- input --------------------------------------------------------------------------------
    def feed(
        self,
        items: Iterable[tuple[Observation, int, int]],
        offsets: Sequence[int] | None = None,
    ) -> list[Alert]:
        """Observations with their lane and source, in arrival order; returns the alerts.

        `offsets` (the stream's): each observation's offset on its lane, so one already in
        its brand's state (read again after a crash) is left out instead of counted twice."""
        engine = self.engine
        members = self._members()
        alerts: list[Alert] = []
        dirty: set[str] = set()
        now = self.monotonic()
        for i, (obs, lane, source) in enumerate(items):
            ts = int(obs.at.timestamp())
            self._tracker(lane).mark(ts)
            state = self._state(obs.brand, lane, members)
            offset = offsets[i] if offsets is not None else -1
            if offset >= 0:
                # read again: at or before the offset kept, and no newer than what was kept (a
                # topic recreated under a kept state restarts its offsets with new data)
                if offset <= state.offset and ts <= state.max_event:
                    self.stats.replayed += 1
                    continue
                state.offset = offset
            if not engine.observe(state, obs):
                self.stats.late += 1
            self.stats.observations += 1
            dirty.add(obs.brand)
            clock = self.clocks.get(lane)
            if clock is None:
                clock = self.clocks[lane] = LaneClock()
            clock.seen[source] = now
            if ts > clock.sources.get(source, -1):
                clock.sources[source] = ts
                alerts += self._settle(lane, clock, now, members, dirty)
        self._persist(dirty)
        return alerts

    def tick(self) -> list[Alert]:
        """Let lanes whose slowest source went idle move on (the stream calls this on a timer)."""
        members = self._members()
        alerts: list[Alert] = []
        dirty: set[str] = set()
        now = self.monotonic()
        for lane, clock in sorted(self.clocks.items()):
            alerts += self._settle(lane, clock, now, members, dirty)
        self._persist(dirty)
        return alerts

    def finish(self) -> list[Alert]:
        """End of input: close every bucket up to each lane's last event."""
        members = self._members()
        alerts: list[Alert] = []
        dirty: set[str] = set()
        for lane, clock in sorted(self.clocks.items()):
            last = max(clock.sources.values())
            alerts += self._advance_lane(lane, last + self.engine.bucket_s, members, dirty)
        self._persist(dirty)
        return alerts

    def invalidate(self) -> None:
        """The worker's partitions changed: states may have moved; re-read them on next use."""
        if self.store is not None:
            self.cache.clear()
            self.members = None

    def state(self, brand: str) -> KeyState | None:
        """The current state of a brand (for inspection and tests)."""
        found = self.cache.get(brand)
        if found is None and self.store is not None:
            raw = self.store.get(brand)
            found = KeyState.from_dict(raw) if raw else None
        return found

    def watermark(self, lane: int) -> int | None:
        clock = self.clocks.get(lane)
        return None if clock is None or clock.time < 0 else self.engine.watermark(clock.time)

    def _settle(
        self, lane: int, clock: LaneClock, now: float, members: dict[int, set[str]], dirty: set[str]
    ) -> list[Alert]:
        mark = self.engine.watermark(clock.settle(now, self.idle_s))
        if self.engine.bucket_start(mark) > self.advanced.get(lane, -1):
            return self._advance_lane(lane, mark, members, dirty)
        return []

    # -- internals ----------------------------------------------------------------------------
    def _tracker(self, lane: int) -> ActivityTracker:
        found = self.activity.get(lane)
        if found is None:
            found = self.activity[lane] = ActivityTracker(
                self.engine.bucket_s, self.min_gap_buckets
            )
        return found

    def _members(self) -> dict[int, set[str]]:
        if self.members is None:
            members: dict[int, set[str]] = {}
            assert self.store is not None
            for brand, raw in self.store.items():
                if raw:
                    members.setdefault(int(raw.get("partition", -1)), set()).add(brand)
            self.members = members
        return self.members

    def _state(self, brand: str, lane: int, members: dict[int, set[str]]) -> KeyState:
        state = self.cache.get(brand)
        if state is None:
            raw = self.store.get(brand) if self.store is not None else None
            state = KeyState.from_dict(raw) if raw else KeyState()
            self.cache[brand] = state
        if state.partition != lane:
            if state.partition in members:
                members[state.partition].discard(brand)
            state.partition = lane
            state.offset = -1  # offsets of another partition say nothing here
        members.setdefault(lane, set()).add(brand)
        return state

    def _advance_lane(
        self, lane: int, mark: int, members: dict[int, set[str]], dirty: set[str]
    ) -> list[Alert]:
        engine = self.engine
        is_gap = self._tracker(lane).is_gap
        alerts: list[Alert] = []
        for brand in sorted(members.get(lane, ())):
            state = self._state(brand, lane, members)
            before = state.closed_until
            alerts += engine.advance(state, brand, mark, is_gap)
            if state.closed_until != before:
                dirty.add(brand)
        self.advanced[lane] = engine.bucket_start(mark)
        return alerts

    def _persist(self, dirty: set[str]) -> None:
        if self.store is None:
            return
        for brand in dirty:
            self.store[brand] = self.cache[brand].to_dict()
