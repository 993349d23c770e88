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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from alerts.history_threshold import count_crossings
from alerts.rule_state import (
    SeriesCusumState,
    ShareCusumsState,
    StoredCusum,
)

BUCKETS_PER_MONTH_AT_5M = 30 * 288
#: The reverse test's odds for "it is over" (20:1).
CALM_LLR = math.log(20)
T = TypeVar("T")


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


def round3(x: float) -> float:
    """`round(x, 3)`, bit for bit, without its decimal conversion (300 ns a call, and a replay
    rounds every statistic of every key of every bucket). Away from a tie, x * 1000 is within
    1e-6 of the exact product (|x| < 1e6), so its nearest integer n is the exact one, and
    n / 1000 is the double nearest the decimal result, as `round` returns it; near a tie, or
    for larger x, `round` decides."""
    y = x * 1000.0
    if not -1e9 < y < 1e9:
        return round(x, 3)
    low = math.floor(y)
    rest = y - low
    if -1e-6 < rest - 0.5 < 1e-6:
        return round(x, 3)
    n = low + 1 if rest > 0.5 else low
    return n / 1000.0 if n else math.copysign(0.0, x)


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


def count_llr(
    n: int, expected: float, factor: float, dispersion: float | None, *, added: bool = False
) -> float:
    """LLR of a bucket count under mean `factor` x `expected` against mean `expected`.

    Negative binomial (variance mu + mu^2 / dispersion) when a dispersion is given: bursty
    social volume would otherwise read as evidence; Poisson as the dispersion grows.

    `added`: the rise is an event's own mentions *added* to the usual traffic (a story, an
    outage: arrivals of their own), not the usual traffic scaled up with its burstiness. The
    count then has variance f mu + mu^2 / r (the usual bursts plus the Poisson spread of all
    arrivals), matched by a negative binomial of mean f mu and dispersion f^2 r (`added_nb`):
    a burst of the usual kind, wide, no longer reads as the narrower surge (scaled, a surge of
    exactly the alternative's f = 3.2 against an hour of dispersion r = 9 could never gather
    more than r (f - 1 - ln f) = 9.3 nats in that hour, however busy the brand: under the
    10.1-10.5 a 2,000-a-day brand's volume CUSUM needs). The null is unchanged, so the
    false-alarm rate is what the calibration by simulation under it says."""
    if factor == 1.0 or expected <= 0:
        return 0.0
    mu0, mu1 = expected, factor * expected
    if dispersion is None or dispersion > 1e6:
        return n * math.log(factor) - (mu1 - mu0)
    r = dispersion
    if not added:
        return n * math.log(mu1 / mu0) + (n + r) * math.log((r + mu0) / (r + mu1))
    r1 = added_nb(factor, r)
    return (
        math.lgamma(n + r1)
        - math.lgamma(r1)
        - math.lgamma(n + r)
        + math.lgamma(r)
        + r1 * math.log(r1 / (r1 + mu1))
        - r * math.log(r / (r + mu0))
        + n * (math.log(mu1 / (r1 + mu1)) - math.log(mu0 / (r + mu0)))
    )


def added_nb(factor: float, dispersion: float) -> float:
    """The dispersion of mean f mu whose variance is f mu + mu^2 / r: the usual traffic's
    bursts (dispersion r) with (f - 1) mu arrivals of an event's own added (`count_llr`)."""
    return factor * factor * dispersion


def share_llr(k: int, n: int, p0: float, p1: float) -> float:
    """LLR of k negatives among n under share p1 against share p0 (binomial)."""
    if n == 0 or p0 == p1:
        return 0.0
    p0, p1 = clamped_share(p0), clamped_share(p1)
    return k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0))


def clamped_share(p: float) -> float:
    """A share kept off 0 and 1 (by comparisons, not min/max calls: this runs for every key,
    alternative and bucket of a replay; the same values either way)."""
    return 1e-6 if p < 1e-6 else (1 - 1e-6 if p > 1 - 1e-6 else p)


def count_llr_array(
    n: np.ndarray,
    expected: np.ndarray | float,
    factor: float,
    dispersion: float | None,
    *,
    added: bool = False,
) -> np.ndarray:
    """`count_llr` over arrays of counts and expectations (the calibration's simulations)."""
    if factor == 1.0:
        return np.zeros(np.broadcast_shapes(n.shape, np.shape(expected)))
    mu0, mu1 = expected, factor * expected
    if dispersion is None or dispersion > 1e6:
        out: np.ndarray = n * math.log(factor) - (mu1 - mu0)
        return out
    r = dispersion
    if not added:
        out = n * math.log(factor) + (n + r) * np.log((r + mu0) / (r + mu1))
        return out
    from scipy.special import gammaln  # the calibration's simulations only

    r1 = added_nb(factor, r)
    out = (
        gammaln(n + r1)
        - math.lgamma(r1)
        - gammaln(n + r)
        + math.lgamma(r)
        + r1 * np.log(r1 / (r1 + mu1))
        - r * np.log(r / (r + mu0))
        + n * (np.log(mu1 / (r1 + mu1)) - np.log(mu0 / (r + mu0)))
    )
    return out


def hour_count_llr(
    n: int,
    so_far: Sequence[float],
    expected: float,
    factor: float,
    dispersion: float | None,
) -> float:
    """`count_llr` (a surge `added` to the usual traffic) for one bucket whose hour already held
    `so_far` = (mentions, expected): the bucket's share of the hour's evidence, i.e. the hour's
    count LLR with the bucket minus without it. Real volume (and the scenarios) is bursty by the
    hour: an hour's rate is one Gamma(r) draw its buckets share. Scored bucket by bucket as
    independent negative binomials, one lucky hour is twelve buckets of evidence, and the
    threshold must sit high to absorb it (calibrated h = 24.7 for a 2,000-a-day brand), so a
    surge waits for it. Here an hour's buckets add up to the evidence of the hour's total, which
    is what a burst can and cannot explain: a lucky hour adds little, a 3x surge a lot (Gamma-
    Poisson, conjugate: the sum telescopes)."""
    total_n, total_e = so_far
    return count_llr(
        int(total_n) + n, total_e + expected, factor, dispersion, added=True
    ) - count_llr(int(total_n), total_e, factor, dispersion, added=True)


def hour_count_llr_array(
    n: np.ndarray,
    expected: np.ndarray | float,
    factor: float,
    dispersion: float,
    per_hour: int,
) -> np.ndarray:
    """`hour_count_llr` over [chains, buckets] arrays that begin at the top of an hour."""
    chains, buckets = n.shape
    if buckets % per_hour:
        raise ValueError(f"{buckets} buckets are not whole hours of {per_hour}")
    shape = (chains, buckets // per_hour, per_hour)
    totals = np.cumsum(n.reshape(shape), axis=2)
    exposure = np.cumsum(np.broadcast_to(expected, n.shape).reshape(shape), axis=2)
    running = count_llr_array(totals, exposure, factor, dispersion, added=True)
    before = np.concatenate([np.zeros((*shape[:2], 1)), running[:, :, :-1]], axis=2)
    out: np.ndarray = (running - before).reshape(chains, buckets)
    return out


def share_llr_array(k: np.ndarray, n: np.ndarray, p0: float, p1: float) -> np.ndarray:
    """`share_llr` over arrays of counts (the calibration's simulations)."""
    p0 = min(max(p0, 1e-6), 1 - 1e-6)
    p1 = min(max(p1, 1e-6), 1 - 1e-6)
    out: np.ndarray = k * math.log(p1 / p0) + (n - k) * math.log((1 - p1) / (1 - p0))
    return out


def cusum_step(s: float, since: int, llr: float, start: int, cap: float) -> tuple[float, int]:
    """One CUSUM step, S = min(max(0, S + llr), cap), and where its evidence began (-1: at
    zero; `start` when it leaves zero with this bucket)."""
    value = s + llr
    if value <= 0.0:
        return 0.0, -1
    return (value if value < cap else cap), (start if s == 0.0 else since)


@dataclass
class Cusum:
    """The CUSUM statistics of a bank, and where each began to accumulate (JSON-safe)."""

    s: list[float]
    since: list[int]

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
        the engine happens to hold (other rules' windows decide that)."""
        out = []
        fresh: list[float] | None = None  # `values` rounded: where evidence began just now
        for since, held in zip(self.since, sums, strict=True):
            if since < 0:
                out.append([0.0] * len(values))
            elif since == start:  # began with this bucket
                if fresh is None:
                    fresh = [round3(v) for v in values]
                out.append(list(fresh))
            else:
                out.append([round3(a + v) for a, v in zip(held, values, strict=True)])
        return out

    def best(self) -> tuple[int, float]:
        i = max(range(len(self.s)), key=self.s.__getitem__)
        return i, self.s[i]

    def stored(self) -> StoredCusum:
        return (self.s, self.since)

    @classmethod
    def of(cls, stored: StoredCusum | None, k: int) -> Cusum:
        """The CUSUM as stored (its statistics are copied), or an empty one."""
        if stored is None or len(stored[0]) != k:
            return cls.empty(k)  # the bank changed (rule edited): start afresh
        return cls(list(stored[0]), list(stored[1]))


@dataclass(frozen=True)
class ShareCusums:
    """One CUSUM per key (a topic, a term) on the share of mentions that carry it, kept in a
    detector's state (`ShareCusumsState`), with the life of an alarm around it:

    - `fold` adds one closed bucket: per key, the binomial LLR of each alternative share
      (`alternatives(q0)`) against the baseline share q0 = p0 x (1 + tolerance);
    - `crossed` lists the keys whose CUSUM reached h and that are not firing yet;
    - `arm` records, when a key fires, the level its reverse test weighs "it is over" against
      (halfway between usual and the observed share); `over` says when that reverse CUSUM has
      reached 20:1;
    - `restart` drops the statistics of keys whose alert resolved, so evidence already acted on
      never raises the same alarm twice.

    Evidence older than `new_normal_s` is let go: a change that lasts is the new normal.
    """

    tolerance: float = 0.2
    new_normal_s: int = 6 * 3600
    calm_llr: float = CALM_LLR

    def fold(
        self,
        state: ShareCusumsState,
        n: int,
        counts: Mapping[str, int],
        baseline: Callable[[str], float | None],
        alternatives: Callable[[float], Sequence[float]],
        *,
        start: int,
        end: int,
        h: float,
        crossings: list[float] | None = None,
    ) -> None:
        """Add one closed bucket of `n` mentions, `counts[key]` of which carry each key.

        A key absent from a bucket only loses evidence (n x ln((1 - p1) / (1 - q0)) per
        alternative), so absent keys are not touched: each key remembers the mention clock of
        its last update (and when absence alone runs its evidence out) and catches up when it
        next appears; once an hour the keys whose evidence has run out are dropped. A bucket
        costs O(keys in it), not O(vocabulary).

        `crossings` (alerts/history_threshold.py), where given, tallies each level a key's
        statistic (its best alternative's) climbs across in this bucket.
        """
        stats, spans = state.cu, state.spans
        before = state.clock
        clock = state.clock = before + n
        trend = state.trend
        watched = set(self.watched(state))
        touched: list[str] = []
        cap, forget, tolerance = 1.5 * h, end - self.new_normal_s, 1 + self.tolerance
        for key in sorted({*counts, *watched}):  # sorted: the same order in every process
            p0 = baseline(key)
            if p0 is None:  # not a candidate (a common word is never "new")
                if key in stats:
                    del stats[key]
                if key in spans:
                    del spans[key]
                continue
            q0 = min(p0 * tolerance, 0.95)
            count = counts.get(key, 0)
            if watched and key in watched:
                calm = state.calm
                calm[key] = max(0.0, calm.get(key, 0.0) + share_llr(count, n, trend[key], q0))
            alts = alternatives(q0)
            raw = stats.get(key)
            # a `Cusum` caught up, updated (`cusum_step`) and forgetting, in one pass per
            # alternative and without the object: this runs for every term of every bucket of
            # every brand (the arithmetic is `share_llr`'s and `cusum_step`'s, operation for
            # operation: the unit tests replay against them)
            k = len(alts)
            if raw is None:
                s, since = [0.0] * k, [-1] * k
                absent = 0
            else:
                absent = before - raw[2]
                if len(raw[0]) != k:
                    s, since = [0.0] * k, [-1] * k
                else:
                    s, since = list(raw[0]), list(raw[1])
            q0c = clamped_share(q0)  # as share_llr clamps it, once per key
            rest = n - count
            runs_out = 0.0  # the mention clock at which absence alone brings all to zero
            was = 0.0  # the best statistic before this bucket's evidence (caught up)
            for i in range(k):
                p1 = alts[i]
                per_absent = math.log((1 - p1) / (1 - q0))
                v, began = s[i], since[i]
                if absent > 0:
                    v += absent * per_absent
                    if v <= 0.0:
                        v, began = 0.0, -1
                was = v if v > was else was
                if n == 0 or q0 == p1:
                    llr = 0.0
                else:
                    p1c = clamped_share(p1)
                    tail = (
                        per_absent if p1c == p1 and q0c == q0 else math.log((1 - p1c) / (1 - q0c))
                    )
                    llr = count * math.log(p1c / q0c) + rest * tail
                value = v + llr  # cusum_step
                if value <= 0.0:
                    v, began = 0.0, -1
                else:
                    began = start if v == 0.0 else began
                    v = value if value < cap else cap
                if 0 <= began < forget:  # as `Cusum.forget_before`
                    v, began = 0.0, -1
                if p1 > q0:
                    runs_out = max(runs_out, v / -per_absent)
                # rounded where it is computed (not where it is stored), so a replay cut into
                # batches anywhere still gives the same alerts, and the state stays small
                s[i], since[i] = round3(v), began
            old_since = raw[1] if raw is not None else None
            stats[key] = (s, since, clock, clock + math.ceil(runs_out))
            self._follow(spans, key, since, old_since, count, before, start)
            best = max(s)
            if crossings is not None:
                count_crossings(crossings, was, best)
            if best >= h:  # all `crossed` looks at
                touched.append(key)
        state.touched = touched
        if start % 3600 == 0:  # once an hour, forget the keys whose evidence has run out
            keep = set(state.trend)
            for key in [k for k, raw in stats.items() if raw[3] <= clock and k not in keep]:
                del stats[key]
                state.spans.pop(key, None)

    @staticmethod
    def _follow(
        spans: dict[str, list[int]],
        key: str,
        since: Sequence[int],
        old_since: Sequence[int] | None,
        count: int,
        before: int,
        start: int,
    ) -> None:
        """Per alternative, the key's count and the clock since its evidence began: started
        afresh where it began with this bucket, added to where it goes on (-1: unknown, state
        from before spans were kept)."""
        if all(b < 0 for b in since):
            spans.pop(key, None)
            return
        held = spans.get(key)
        k = len(since)
        known = held is not None and len(held) == 2 * k and old_since is not None
        out = [0] * (2 * k)  # [clock, count] per alternative (0, 0 where at zero)
        for i in range(k):
            began = since[i]
            if began < 0:
                continue
            if began == start:
                out[2 * i], out[2 * i + 1] = before, count
            elif (
                known
                and held is not None
                and old_since is not None
                and old_since[i] == began
                and held[2 * i + 1] >= 0
            ):
                out[2 * i], out[2 * i + 1] = held[2 * i], held[2 * i + 1] + count
            else:
                out[2 * i], out[2 * i + 1] = -1, -1
        spans[key] = out

    def since_began(self, state: ShareCusumsState, key: str) -> tuple[int, int] | None:
        """(the key's count, mentions) since the best alternative's evidence began, or None
        where that is not known (state from before spans were kept)."""
        raw, held = state.cu.get(key), state.spans.get(key)
        if raw is None or held is None or len(held) != 2 * len(raw[0]):
            return None
        s = raw[0]
        best = max(range(len(s)), key=s.__getitem__)
        base, count = held[2 * best], held[2 * best + 1]
        if count < 0 or raw[1][best] < 0:
            return None
        return count, state.clock - base

    def crossed(self, state: ShareCusumsState, h: float) -> list[tuple[str, int, float]]:
        """(key, where its evidence began, statistic) for each key the last bucket took over h
        (only a key in it gained evidence; `fold` lists those at h or above)."""
        firing = set(state.firing)
        stats = state.cu
        out = []
        for key in state.touched or ():
            if key in firing or key not in stats:
                continue
            s, since = stats[key][0], stats[key][1]
            best = max(range(len(s)), key=s.__getitem__)
            if s[best] >= h:
                out.append((key, int(since[best]), float(s[best])))
        return out

    def judge(
        self,
        state: ShareCusumsState,
        h: float,
        alarm: Callable[[str, int, float], T | None],
        still: Callable[[str, bool], T],
    ) -> list[T]:
        """One bucket's findings: `still(key, over)` for each key this test raised and that
        still fires, and `alarm(key, since, statistic)` for each key newly over h (None where
        it does not qualify, e.g. too few mentions yet)."""
        out = [still(key, self.over(state, key)) for key in self.watched(state)]
        for key, since, value in self.crossed(state, h):
            finding = alarm(key, since, value)
            if finding is not None:
                out.append(finding)
        return out

    def watched(self, state: ShareCusumsState) -> list[str]:
        """Firing keys this test raised (it judges when they are over)."""
        trend = state.trend
        return [k for k in state.firing if k in trend]

    def arm(self, state: ShareCusumsState, key: str, p0: float, share: float) -> None:
        q0 = min(p0 * (1 + self.tolerance), 0.95)
        state.trend[key] = min(max((q0 + share) / 2, q0 * 1.5), 0.95)
        state.calm.pop(key, None)

    def over(self, state: ShareCusumsState, key: str) -> bool:
        return state.calm.get(key, 0.0) >= self.calm_llr

    @staticmethod
    def restart(state: ShareCusumsState, firing: set[str]) -> None:
        state.touched = None
        for key in set(state.firing) - firing:
            state.cu.pop(key, None)
            state.spans.pop(key, None)
            state.trend.pop(key, None)
            state.calm.pop(key, None)
        state.firing = sorted(firing)


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

    def learn(self, pair: list[float], n: float, expected: float) -> None:
        d = 0.5 ** (1 / self.half_life_buckets)
        pair[0] = pair[0] * d + (n - expected) ** 2 - expected
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
