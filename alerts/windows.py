"""Windows over the buckets (alerts/buckets.py): a window's sums, what a rule evaluates, and term
counts over a sliding window kept up to date bucket by bucket. Compiled with the buckets
(alerts/native.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alerts.buckets import Bucket, Post, keep_top


class WindowSummary:
    """The sum of consecutive buckets: what a rule evaluates.

    Scalar sums are computed at once; topics, terms and top posts are merged only when asked
    for (most evaluations never need them: only findings build evidence)."""

    __slots__ = (
        "_merges",
        "buckets",
        "end",
        "gaps",
        "n",
        "neg",
        "neu",
        "pos",
        "reach",
        "reach_neg",
        "score_sum",
        "start",
        "starts",
        "w",
        "w2",
        "wn",
    )

    def __init__(self, buckets: Iterable[Bucket], start: int, end: int):
        self.start, self.end = start, end
        #: topics, terms and top posts merged so far (by attribute name)
        self._merges: dict[str, Any] = {}
        self.buckets = [b for b in buckets if not b.gap]
        self.gaps = 0
        self.starts = [b.start for b in self.buckets]
        n = neg = neu = pos = reach = reach_neg = 0
        score_sum = w = wn = w2 = 0.0
        for b in self.buckets:
            n += b.n
            neg += b.neg
            neu += b.neu
            pos += b.pos
            reach += b.reach
            reach_neg += b.reach_neg
            score_sum += b.score_sum
            w += b.w
            wn += b.wn
            w2 += b.w2
        self.n, self.neg, self.neu, self.pos = n, neg, neu, pos
        self.reach, self.reach_neg, self.score_sum = reach, reach_neg, score_sum
        self.w, self.wn, self.w2 = w, wn, w2

    @property
    def start_dt(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def end_dt(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)

    @property
    def neg_share(self) -> float:
        return self.neg / self.n if self.n else 0.0

    def _merged(self, name: str) -> dict[str, int]:
        cached: dict[str, int] | None = self._merges.get(name)
        if cached is None:
            cached = {}
            for b in self.buckets:
                for k, v in getattr(b, name).items():
                    cached[k] = cached.get(k, 0) + v
            self._merges[name] = cached
        return cached

    @property
    def topics(self) -> dict[str, int]:
        return self._merged("topics")

    @property
    def topics_neg(self) -> dict[str, int]:
        return self._merged("topics_neg")

    @property
    def terms(self) -> dict[str, int]:
        return self._merged("terms")

    def _tops(self, name: str) -> list[Post]:
        cached: list[Post] | None = self._merges.get(name)
        if cached is None:
            cached = []
            for b in self.buckets:
                for p in getattr(b, name):
                    keep_top(cached, p)
            self._merges[name] = cached
        return cached

    @property
    def top(self) -> list[Post]:
        return self._tops("top")

    @property
    def top_neg(self) -> list[Post]:
        return self._tops("top_neg")

    def top_terms(self, k: int = 10) -> list[tuple[str, int]]:
        return sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def summarize(buckets: Iterable[Bucket], start: int, end: int) -> WindowSummary:
    bucket_list = list(buckets)
    window = WindowSummary(bucket_list, start, end)
    window.gaps = sum(1 for b in bucket_list if b.gap)
    return window


@dataclass
class RunningTerms:
    """Term counts over a sliding window, kept up to date bucket by bucket, with the set of
    terms at or above `threshold` (the only ones a detector needs to look at)."""

    window_s: int
    threshold: float
    counts: dict[str, int] = field(default_factory=dict)
    hot: set[str] = field(default_factory=set)
    upto: int = -1  # end of the last bucket included

    def _add(self, terms: dict[str, int], sign: int) -> None:
        counts, hot, threshold = self.counts, self.hot, self.threshold
        for term, c in terms.items():
            value = counts.get(term, 0) + sign * c
            if value <= 0:
                if term in counts:
                    del counts[term]
                hot.discard(term)
                continue
            counts[term] = value
            if value >= threshold:
                hot.add(term)
            elif sign < 0:
                hot.discard(term)

    def update(self, closed: dict[int, Bucket], end: int, bucket_s: int) -> None:
        """Bring the counts to the window [end - window_s, end)."""
        if self.upto == end - bucket_s and self.upto >= 0:
            newest = closed.get(end - bucket_s)
            if newest is not None and not newest.gap:
                self._add(newest.terms, 1)
            expired = closed.get(end - self.window_s - bucket_s)
            if expired is not None and not expired.gap:
                self._add(expired.terms, -1)
        else:
            self.counts, self.hot = {}, set()
            for s, b in closed.items():
                if end - self.window_s <= s < end and not b.gap:
                    self._add(b.terms, 1)
        self.upto = end
