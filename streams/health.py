"""The worker's own account of its progress: consumer lag, lost offsets, held documents.

Served at `/healthz` beside `/metrics`. The status is

- `starting` until the first lag sample;
- `ok` while the worker keeps up or makes progress;
- `degraded` when offsets were lost (the broker deleted messages before they were read) — the
  worker runs on, but a person must know which messages never arrived;
- `stalled` (HTTP 503) when a partition has lag and its committed offset has not moved for
  `stall_after_s`: the worker cannot make progress there (search engine down, a stuck agent)
  and needs attention.

`streams_held_s` says how long a rebalance, or the table recovery after it, has held every
stream (0 when none does): a stall that is a recovery waiting on its changelogs reads as one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TP = tuple[str, int]


@dataclass(frozen=True)
class LostRange:
    topic: str
    partition: int
    #: The offset the consumer wanted next, and the first offset the broker still had.
    first: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.first


class WorkerHealth:
    def __init__(
        self, *, stall_after_s: float = 120.0, clock: Callable[[], float] = time.monotonic
    ):
        self.stall_after_s = stall_after_s
        self.clock = clock
        self._lock = threading.Lock()
        self.lag: dict[TP, int] = {}
        self.committed: dict[TP, int] = {}
        self.lost: list[LostRange] = []
        self.resets: list[str] = []
        self.search_backlog = 0
        #: Observations the detector left out as later than the allowed lateness.
        self.late_observations = 0
        #: When each partition last moved (or had nothing to do).
        self.last_progress: dict[TP, float] = {}
        #: Since when a rebalance (or the table recovery after it) holds the streams, on
        #: `clock`'s scale; None while none does.
        self.held_since: float | None = None
        self.sampled = False

    def observe(self, committed: dict[TP, int], lag: dict[TP, int]) -> None:
        """A lag sample: committed offsets and lag per partition of the worker's inputs."""
        with self._lock:
            now = self.clock()
            for tp, offset in committed.items():
                moved = offset > self.committed.get(tp, -1)
                if moved or not lag.get(tp) or tp not in self.last_progress:
                    self.last_progress[tp] = now
            self.committed, self.lag, self.sampled = dict(committed), dict(lag), True

    def record_loss(self, lost: LostRange) -> None:
        with self._lock:
            self.lost.append(lost)

    def record_reset(self, what: str) -> None:
        with self._lock:
            self.resets.append(what)

    @property
    def lost_total(self) -> int:
        return sum(r.count for r in self.lost)

    def report(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for `/healthz`."""
        with self._lock:
            now = self.clock()
            stuck = {tp: now - self.last_progress.get(tp, now) for tp, n in self.lag.items() if n}
            idle = max(stuck.values(), default=0.0)
            total_lag = sum(self.lag.values())
            if not self.sampled:
                status = "starting"
            elif idle > self.stall_after_s:
                status = "stalled"
            elif self.lost:
                status = "degraded"
            else:
                status = "ok"
            body = {
                "status": status,
                "lag": total_lag,
                "lag_by_partition": {f"{t}[{p}]": n for (t, p), n in sorted(self.lag.items()) if n},
                "seconds_since_progress": round(idle, 1),
                "stalled": sorted(
                    f"{t}[{p}]" for (t, p), s in stuck.items() if s > self.stall_after_s
                ),
                "offsets_lost": self.lost_total,
                "lost": [
                    {
                        "topic": r.topic,
                        "partition": r.partition,
                        "offsets": [r.first, r.end - 1],
                        "count": r.count,
                    }
                    for r in self.lost
                ],
                "offset_resets": list(self.resets),
                "streams_held_s": (
                    0.0 if self.held_since is None else round(now - self.held_since, 1)
                ),
                "search_backlog": self.search_backlog,
                "late_observations": self.late_observations,
            }
        return (503 if status == "stalled" else 200), body
