"""The sequential half of `volume_spike`: mention volume judged as evidence accumulates.

Per closed bucket, the negative binomial LLR of "volume rose to f x expected" (f = 1, 2 and
4 x `min_ratio`) against the seasonal expectation of `volume_spike` (plus 25% for its own
error) is added to one CUSUM per factor (alerts/sequential.py). The threshold comes from
`false_alarms_per_month`. A windowed test waits for its window to fill at a fixed alpha; this
one fires as soon as the surge's evidence adds up (a busy brand's viral post within one or two
buckets), and for a small brand it keeps adding across window boundaries. It fires once half
of `min_volume` mentions have arrived since the estimated start at `min_ratio` x expected,
says when the surge began, and ends when the reverse test finds volume back to usual (20:1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from alerts.buckets import Bucket
from alerts.detectors.base import Context, Finding
from alerts.evidence import build_evidence, fmt_span, search_query
from alerts.sequential import (
    Overdispersion,
    SeriesCusum,
    SeriesCusumState,
    count_llr,
    threshold,
)

if TYPE_CHECKING:
    from alerts.detectors.volume_spike import VolumeSpikeDetector, VolumeSpikeState

#: Bucket-level overdispersion of the brand's counts (its own, not the windowed test's).
DISPERSION = Overdispersion(prior=0.1, prior_weight=50.0)
#: The expectation may be this far off before counts are evidence against it.
TOLERANCE = 0.25
#: History needed before buckets are scored, whatever the rule's warm-up: after one day each
#: hour's expectation rests on one noisy hour, and a CUSUM adds up its error.
MATURE_S = 2 * 86400


@dataclass
class SequentialVolumeState(SeriesCusumState):
    #: The brand's bucket-level overdispersion: [excess, scale] (see `Overdispersion`).
    phi: list[float] = field(default_factory=lambda: [0.0, 0.0])


class SequentialVolume:
    """Keeps its state in `seq` of the volume_spike rule's state. The engine calls
    `evaluate` on a closed bucket before `learn`s it."""

    def __init__(self, volume: VolumeSpikeDetector, false_alarms_per_month: float, bucket_s: int):
        self.volume = volume
        ratio = volume.rule.min_ratio
        self.factors = (ratio, 2 * ratio, 4 * ratio)
        self.cusum = SeriesCusum(len(self.factors))
        self.h = threshold(len(self.factors), false_alarms_per_month, bucket_s)

    def explain(self) -> str:
        return (
            f"the volume CUSUM's threshold h = {self.h:.1f} over {len(self.factors)} volume factors"
        )

    def learn(
        self, bucket: Bucket, state: VolumeSpikeState, ctx: Context, firing: set[str]
    ) -> None:
        """Called before the profile learns the bucket, so the dispersion is learned against
        the expectation the bucket was judged by."""
        seq = state.seq
        self.cusum.settle(seq, "" in firing)
        if firing or ctx.history_s <= 86400:
            return
        expected = self.volume.expected(state, bucket.start)
        if expected is not None and expected > 0:
            DISPERSION.learn(seq.phi, bucket.n, expected)

    def evaluate(self, state: VolumeSpikeState, ctx: Context) -> list[Finding]:
        bucket = ctx.closed.get(ctx.end - ctx.bucket_s)
        seq = state.seq
        expected = self.volume.expected(state, ctx.end - ctx.bucket_s)
        if bucket is None or expected is None:  # a gap is no evidence either way
            return []
        if ctx.history_s < MATURE_S:
            return []  # each hour seen on one day only: its expectation may be off 2x
        r = DISPERSION.dispersion(seq.phi)
        n, e0 = bucket.n, max(expected, 0.01) * (1 + TOLERANCE)
        s, since, (n_span, expected_span) = self.cusum.fold(
            seq,
            [count_llr(n, e0, f / (1 + TOLERANCE), r) for f in self.factors],
            (n, expected),
            start=bucket.start,
            end=ctx.end,
            h=self.h,
            # firing: "back to usual" weighed against the level it fired at (f x e0)
            calm=lambda f: count_llr(n, e0 * f, 1 / f, r),
        )
        if s >= self.h / 2:  # strong evidence building: the profile's guard band holds it
            flag = state.flag_from
            state.flag_from = since if flag < 0 else min(flag, since)
        if self.cusum.firing(seq):
            return [Finding(anomalous=False, sustained=not self.cusum.over(seq))]
        if s < self.h:
            return []
        return self._alarm(seq, s, since, int(n_span), expected_span, ctx)

    def _alarm(
        self,
        seq: SequentialVolumeState,
        s: float,
        since: int,
        n: int,
        expected: float,
        ctx: Context,
    ) -> list[Finding]:
        """The alarm, with the mentions and expectation since the surge began (kept with the
        CUSUM, so they never depend on how many buckets the engine holds)."""
        rule = self.volume.rule
        ratio = n / expected if expected > 0 else float("inf")
        if n < math.ceil(rule.min_volume / 2) or ratio < rule.min_ratio:
            return []
        # "it is over" is judged against halfway back to usual
        self.cusum.arm(seq, max((1 + ratio / (1 + TOLERANCE)) / 2, 1.5))
        started = datetime.fromtimestamp(since, UTC)
        span = ctx.held_since(since)
        summary = (
            f"{ctx.brand}: {n} mentions since {started:%H:%M} UTC, {ratio:.1f}x the "
            f"{expected:.0f} expected for this time; started around {started:%H:%M}, "
            f"{fmt_span(ctx.end - since)} before this alert"
        )
        evidence = build_evidence(
            span,
            observed=float(n),
            expected=round(expected, 1),
            expected_low=None,
            expected_high=None,
            unit="mentions since the surge began",
            statistic="cusum_llr",
            statistic_value=round(s, 2),
            p_value=min(1.0, math.exp(-s) * len(self.factors)),
            posts=span.top,
            query=search_query(ctx.brand, span),
            search_url=ctx.search_url,
            baseline_volume=round(expected, 1),
        )
        critical = n >= 3 * rule.min_volume and ratio >= 3 * rule.min_ratio
        return [
            Finding(
                anomalous=True,
                sustained=True,
                severity="critical" if critical else "warning",
                evidence=evidence,
                summary=summary,
                labels={"direction": "up", "change_started": started.isoformat(timespec="minutes")},
            )
        ]
