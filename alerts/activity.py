"""Tell a data gap (the feed stopped) from a quiet brand (nobody talked).

The tracker records which buckets saw any observation at all, across every brand of a stream or
partition. A bucket is a gap when it lies in a run of at least `min_gap_buckets` consecutive
buckets in which nothing arrived from anywhere: an ingestion outage, not silence. Shorter empty
runs are ordinary quiet (a night on a small stream) and count as zero traffic.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ActivityTracker:
    bucket_s: int
    min_gap_buckets: int = 3
    #: Sorted starts of buckets that saw data (pruned behind the horizon).
    active: list[int] = field(default_factory=list)
    horizon_s: int = 7 * 86400

    def mark(self, ts: int) -> None:
        start = ts - ts % self.bucket_s
        i = bisect.bisect_left(self.active, start)
        if i == len(self.active) or self.active[i] != start:
            self.active.insert(i, start)
        if len(self.active) > 4096:
            cutoff = self.active[-1] - self.horizon_s
            del self.active[: bisect.bisect_left(self.active, cutoff)]

    def is_gap(self, start: int) -> bool:
        """Whether the bucket starting at `start` is inside a long enough run of silence.

        Only meaningful once data after `start` has been seen (the caller closes buckets behind
        the watermark, so it has)."""
        i = bisect.bisect_left(self.active, start)
        if i < len(self.active) and self.active[i] == start:
            return False
        if i == 0 or i == len(self.active):
            return False  # before the first or after the last activity: unknown, not a gap
        run = (self.active[i] - self.active[i - 1]) // self.bucket_s - 1
        return run >= self.min_gap_buckets

    def to_dict(self) -> dict[str, Any]:
        return {"b": self.bucket_s, "m": self.min_gap_buckets, "a": self.active[-2000:]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActivityTracker:
        return cls(d["b"], d["m"], list(d["a"]))
