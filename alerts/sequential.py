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

Here: the bank (`Alternative`, `bank`), the threshold from a false-alarm target, one CUSUM bank
(`Cusum`, `SeriesCusum`) and the lagged learning of baselines (`ripe`, `Overdispersion`). The
LLRs themselves are in alerts/llr.py; one CUSUM per key of many (topics, terms) in
alerts/share_cusums.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alerts.llr import round3
from alerts.rule_state import SeriesCusumState, StoredCusum

#: The reverse test's odds for "it is over" (20:1).
CALM_LLR = math.log(20)


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


def beside_window(false_alarms_per_month: float | None, threshold_text: str) -> str:
    """What `rules check` says of an opt-in CUSUM that runs beside a windowed test."""
    if false_alarms_per_month is None:
        return ""
    return (
        f"false_alarms_per_month {false_alarms_per_month:g} sets {threshold_text}; the "
        "windowed test keeps its alpha"
    )


def cusum_step(s: float, since: int, llr: float, start: int, cap: float) -> tuple[float, int]:
    """One CUSUM step, S = min(max(0, S + llr), cap), and where its evidence began (-1: at
    zero; `start` when it leaves zero with this bucket)."""
    value = s + llr
    if value <= 0.0:
        return 0.0, -1
    return (value if value < cap else cap), (start if s == 0.0 else since)


@dataclass(init=False)
class Cusum:
    """The CUSUM statistics of a bank, and where each began to accumulate (JSON-safe)."""

    s: list[float]
    since: list[int]

    def __init__(self, s: list[float], since: list[int]) -> None:
        # written out: the generated one is Python code even compiled (several a bucket)
        self.s = s
        self.since = since

    @classmethod
    def empty(cls, k: int) -> Cusum:
        return cls([0.0] * k, [-1] * k)

    def update(self, llrs: Sequence[float], bucket_start: int, cap: float) -> None:
        s, since = self.s, self.since
        for i, llr in enumerate(llrs):
            s[i], since[i] = cusum_step(s[i], since[i], llr, bucket_start, cap)

    def forget_before(self, start: int) -> None:
        """Drop the evidence of every alternative that began accumulating before `start`."""
        for i, since in enumerate(self.since):
            if 0 <= since < start:
                self.s[i], self.since[i] = 0.0, -1

    def follow(
        self, sums: list[list[float]], start: int, values: Sequence[float]
    ) -> list[list[float]]:
        """Per alternative, `values` (mentions, negatives, expected ...) summed over the buckets
        since its evidence began: call after `update` with the bucket just added. What the
        alarm reports about "since the change began" then never depends on how many buckets
        the engine happens to hold (other rules' windows decide that).

        `sums` itself where every statistic is at zero and `sums` already holds the zeros that
        says (a brand at rest: most of a small brand's buckets), not a copy of them."""
        if at_rest(self.since, sums, len(values)):
            return sums
        width = len(values)
        if len(sums) != len(self.since):
            raise ValueError(f"{len(sums)} sums for {len(self.since)} alternatives")
        out = []
        fresh: list[float] | None = None  # `values` rounded: where evidence began just now
        # by index, not zip(..., strict=True): compiled, zip with a keyword is a call through
        # Python's protocol (its lengths are checked here instead)
        for i in range(len(sums)):
            since = self.since[i]
            if since < 0:
                out.append([0.0] * width)
            elif since == start:  # began with this bucket
                if fresh is None:
                    fresh = [round3(v) for v in values]
                out.append(list(fresh))
            else:
                held = sums[i]
                if len(held) != width:
                    raise ValueError(f"{len(held)} sums for {width} values")
                out.append([round3(held[j] + values[j]) for j in range(width)])
        return out

    def best(self) -> tuple[int, float]:
        i = argmax(self.s)
        return i, self.s[i]

    def stored(self) -> StoredCusum:
        return (self.s, self.since)

    @classmethod
    def of(cls, stored: StoredCusum | None, k: int) -> Cusum:
        """The CUSUM as stored (its statistics are copied), or an empty one."""
        if stored is None or len(stored[0]) != k:
            return cls.empty(k)  # the bank changed (rule edited): start afresh
        return cls(list(stored[0]), list(stored[1]))


def argmax(values: list[float]) -> int:
    """The index of the first largest value, as `max(range(len(values)), key=values.__getitem__)`
    gives it (a loop: compiled, the key function went through Python's call protocol), and
    the same error for an empty list."""
    if not values:
        raise ValueError("argmax of an empty list")
    best = 0
    for i in range(1, len(values)):
        if values[i] > values[best]:
            best = i
    return best


def at_rest(since: list[int], sums: list[list[float]], width: int) -> bool:
    """Every alternative at zero (`since` -1) and `sums` already all zeros, `width` a row:
    what `Cusum.follow` would build afresh."""
    if len(sums) != len(since):
        return False
    for began in since:
        if began >= 0:
            return False
    for row in sums:
        if len(row) != width:
            return False
        for value in row:
            if value != 0.0:
                return False
    return True


#: How long a baseline waits before it learns a bucket (`ripe`, `Overdispersion`): the
#: onset of a small brand's incident builds evidence slowly, and learned at once its first
#: buckets raised the very baselines it was judged against. Two hours on baselines with
#: half-lives of days cost nothing in how fast they follow the brand.
LEARN_DELAY_S = 7200


def ripe(queue: list[list[float]], row: list[float], now: int) -> list[list[float]]:
    """Queue `row` ([bucket start, values...]) and take out the rows that have waited
    `LEARN_DELAY_S`: those are the ones to learn now. A caller drops its queue when an alert
    fires (an alert's own buckets are never learned)."""
    queue.append(row)
    cut = 0
    while cut < len(queue) and queue[cut][0] <= now - LEARN_DELAY_S:
        cut += 1
    done = queue[:cut]
    del queue[:cut]
    return done


@dataclass(frozen=True)
class Overdispersion:
    """Bucket-level overdispersion of counts (variance mu + phi mu^2) by pooled moments over
    ordinary buckets (exponentially weighted, half-life a week of 5-minute buckets), shrunk
    towards a prior until enough buckets are seen. Its state is one [excess, scale] pair."""

    prior: float = 0.1
    prior_weight: float = 50.0
    half_life_buckets: float = 2016.0
    #: `LEARN_DELAY_S` in the engine's default 5-minute buckets (counted in calls: a gap or a
    #: brand's first day, which the callers skip, does not count).
    delay_buckets: int = 24

    #: Where set, a bucket's residual counts at most this many standard deviations, at the
    #: estimate so far (winsorised moments; see volume_sequential's `DISPERSION`).
    clip_sd: float | None = None

    def learn(self, pair: list[float], n: float, expected: float) -> None:
        d = 0.5 ** (1 / self.half_life_buckets)
        residual = abs(n - expected)
        if self.clip_sd is not None:
            sd = math.sqrt(expected * (1 + expected / self.dispersion(pair)))
            residual = min(residual, self.clip_sd * sd)
        pair[0] = pair[0] * d + residual * residual - expected
        pair[1] = pair[1] * d + expected**2

    def learn_or_hold(
        self,
        pair: list[float],
        held: list[list[float]],
        n: float,
        expected: float,
        *,
        building: bool,
        max_held: int = 72,
    ) -> None:
        """`learn`, two hours late (`delay_buckets`), and later still while the caller's
        evidence of a change is building (its CUSUM at half its threshold or more): the
        buckets wait in `held`, and the caller drops them when it fires. Learned at once, a
        surge's own buckets made a 600-a-day brand look burstier within its first 25 minutes
        (the dispersion fell from 10.5 to 8.2) and raised the threshold it was judged by (17.5
        to 19.4) while its evidence built up: a bucket later. The onset of a 45-a-day brand's
        viral surge stays under half the threshold for its first buckets, and one bucket of 4
        mentions where 0.25 were expected took its dispersion from 4.7 to 3.0: the two hours'
        wait keeps the onset out until the alarm has had its chance. Held and learned later,
        an ordinary burst still counts in full; leaving such buckets out for good would cut
        the bursts' tail off, and a brand would look steadier than it is. At most `max_held`
        wait while evidence builds: a change that builds longer is learned from its oldest
        bucket on."""
        held.append([n, round(expected, 4)])
        keep = max_held if building else self.delay_buckets
        while len(held) > keep:
            self.learn(pair, *held.pop(0))

    def dispersion(self, pair: Sequence[float] | None) -> float:
        """The negative binomial's r = 1 / phi."""
        excess, scale = pair if pair else (0.0, 0.0)
        phi = (excess + self.prior * self.prior_weight) / (scale + self.prior_weight)
        return float(1.0 / min(max(phi, 1e-3), 2.0))


@dataclass(frozen=True)
class SeriesCusum:
    """A CUSUM bank on one series (a brand's volume, its negative share), fed one LLR per
    alternative per bucket by the detector that knows the model, with the life of an alarm
    around it, as `ShareCusums` has for many keys: `arm` records the level the reverse test
    weighs "it is over" against, `over` says when that reverse CUSUM reached 20:1, `restart`
    drops spent evidence once the alert resolved. Next to the statistics it keeps, per
    alternative, sums of the caller's `values` (mentions, negatives, expected) since its
    evidence began. Its state is a `SeriesCusumState`."""

    alternatives: int
    new_normal_s: int = 6 * 3600
    calm_llr: float = CALM_LLR

    def fold(
        self,
        state: SeriesCusumState,
        llrs: Sequence[float],
        values: Sequence[float],
        *,
        start: int,
        end: int,
        h: float,
        calm: Callable[[float], float] | None = None,
    ) -> tuple[float, int, list[float]]:
        """Add one closed bucket; (the best statistic, where its evidence began, the `values`
        summed since then). While it fires, `calm(level)` is the bucket's LLR of "back to
        usual" against the armed level."""
        cusum = Cusum.of(state.cu, self.alternatives)
        cusum.update(llrs, start, cap=1.5 * h)
        cusum.forget_before(end - self.new_normal_s)
        cusum.s = [round3(v) for v in cusum.s]
        state.cu = cusum.stored()
        sums = state.span
        if sums is None or len(sums) != self.alternatives:
            sums = [[0.0] * len(values) for _ in range(self.alternatives)]
        state.span = sums = cusum.follow(sums, start, values)
        if state.trend is not None and calm is not None:
            state.calm = round3(max(0.0, state.calm + calm(state.trend)))
        best, s = cusum.best()
        return s, cusum.since[best] if cusum.since[best] >= 0 else start, sums[best]

    @staticmethod
    def arm(state: SeriesCusumState, level: float) -> None:
        state.trend = round(level, 4)
        state.calm = 0.0

    @staticmethod
    def firing(state: SeriesCusumState) -> bool:
        return state.trend is not None

    def over(self, state: SeriesCusumState) -> bool:
        return state.calm >= self.calm_llr

    @classmethod
    def settle(cls, state: SeriesCusumState, firing: bool) -> None:
        """After each bucket: once the rule's alert resolved (whichever test raised it), the
        evidence it was raised on is spent."""
        if firing:
            state.ep = 1
        elif state.ep:
            state.ep = 0
            state.cu, state.span, state.trend, state.calm = None, None, None, 0.0
