"""Sequential evidence: CUSUM over a bank of alternatives (Page 1954; Lorden 1971).

Each closed bucket contributes a log-likelihood ratio (LLR) of "the brand's mentions changed to
alternative k" against "they follow the learned baseline". Per alternative the CUSUM keeps
S_k = max(0, S_k + LLR_k); an alarm is raised when max_k S_k reaches h. Unlike re-testing a
fixed window at a fixed alpha, evidence is never thrown away at a window boundary, and the
evidence of several weak signals adds up: the volume and the negative share of one bucket are
scored together by one LLR.

The change size is unknown, so a small bank of alternatives (volume factors x rises of the
negative share) stands in for a GLR over it. For one CUSUM, Lorden's bound gives an average run
length to false alarm of at least e^h buckets; for the largest of K CUSUMs the union bound asks
for h = ln(K x ARL0). `threshold()` does exactly that from a human target (false alarms per
month); the unit tests check the resulting rate by simulation.

The change point estimate is the bucket after the best statistic last stood at zero: where the
evidence began to accumulate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

BUCKETS_PER_MONTH_AT_5M = 30 * 288


@dataclass(frozen=True, slots=True)
class Alternative:
    """Volume multiplied by `factor`, and the negative share moved `rise` of the way to 1."""

    factor: float
    rise: float

    def negative_share(self, p0: float) -> float:
        return min(p0 + self.rise * (1.0 - p0), 0.98)


def bank(factors: Sequence[float], rises: Sequence[float]) -> tuple[Alternative, ...]:
    """Every (factor, rise) pair except "no change"."""
    return tuple(Alternative(f, r) for f in factors for r in rises if not (f == 1.0 and r == 0.0))


def threshold(
    alternatives: int, false_alarms_per_month: float, bucket_s: int, *, per_month_s: int = 2592000
) -> float:
    """h such that K CUSUMs raise at most the target number of false alarms a month."""
    arl0 = per_month_s / bucket_s / max(false_alarms_per_month, 1e-9)
    return math.log(max(alternatives, 1) * arl0)


def count_llr(n: int, expected: float, factor: float, dispersion: float | None) -> float:
    """LLR of a bucket count under mean `factor` x `expected` against mean `expected`.

    Negative binomial (variance mu + mu^2 / dispersion) when a dispersion is given: bursty
    social volume would otherwise read as evidence; Poisson as the dispersion grows."""
    if factor == 1.0 or expected <= 0:
        return 0.0
    mu0, mu1 = expected, factor * expected
    if dispersion is None or dispersion > 1e6:
        return n * math.log(factor) - (mu1 - mu0)
    r = dispersion
    return n * math.log(mu1 / mu0) + (n + r) * math.log((r + mu0) / (r + mu1))


def share_llr(k: int, n: int, p0: float, p1: float) -> float:
    """LLR of k negatives among n under share p1 against share p0 (binomial)."""
    if n == 0 or p0 == p1:
        return 0.0
    p0 = min(max(p0, 1e-6), 1 - 1e-6)
    p1 = min(max(p1, 1e-6), 1 - 1e-6)
    return k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0))


@dataclass
class Cusum:
    """The CUSUM statistics of a bank, and where each began to accumulate (JSON-safe)."""

    s: list[float]
    since: list[int]

    @classmethod
    def empty(cls, k: int) -> Cusum:
        return cls([0.0] * k, [-1] * k)

    def update(self, llrs: Sequence[float], bucket_start: int, cap: float) -> None:
        for i, llr in enumerate(llrs):
            value = self.s[i] + llr
            if value <= 0.0:
                self.s[i], self.since[i] = 0.0, -1
            else:
                if self.s[i] == 0.0:
                    self.since[i] = bucket_start
                self.s[i] = min(value, cap)

    def forget_before(self, start: int) -> None:
        """Drop the evidence of every alternative that began accumulating before `start`."""
        for i, since in enumerate(self.since):
            if 0 <= since < start:
                self.s[i], self.since[i] = 0.0, -1

    def best(self) -> tuple[int, float]:
        i = max(range(len(self.s)), key=self.s.__getitem__)
        return i, self.s[i]

    def to_list(self) -> list[list[float] | list[int]]:
        return [self.s, self.since]

    @classmethod
    def from_list(cls, data: Sequence[Sequence[float]], k: int) -> Cusum:
        if len(data) != 2 or len(data[0]) != k:
            return cls.empty(k)  # the bank changed (rule edited): start afresh
        return cls([float(x) for x in data[0]], [int(x) for x in data[1]])
