"""The sequential half of `sentiment_dip`: the negative share judged as evidence accumulates.

Per closed bucket, the binomial LLR of "the negative share rose by d" (d = 1, 2 and 3 x
`min_delta`, over the learned share p0) against "it is p0, give or take 4 points" is added to
one CUSUM per rise (alerts/sequential.py), with the threshold from `false_alarms_per_month`.
A windowed test judges its last hour afresh each time; a quiet dip at a small brand (a few
extra complaints an hour) adds up here across window boundaries, so one rule replaces the
slower windows that were kept to catch it. It fires once `min_volume` mentions have arrived
since the estimated start with the share up by `min_delta`, says when the dip began, and ends
when the reverse test finds the share back to usual (20:1).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import partial

import numpy as np

from alerts.calibration import NullGrid, Thresholds, Tolerance, calibrated
from alerts.detectors.base import Context, Finding
from alerts.evidence import build_evidence, fmt_span, search_query
from alerts.llr import share_llr, share_llr_array
from alerts.rule_state import SeriesCusumState
from alerts.rules import SentimentDipRule
from alerts.sequential import SeriesCusum

#: The learned share may be this far off (absolute) before negatives are evidence against it.
TOLERANCE = 0.04


class SequentialDip:
    """Keeps its state (a `SeriesCusumState`) in `seq` of the sentiment_dip rule's state."""

    def __init__(self, rule: SentimentDipRule, false_alarms_per_month: float, bucket_s: int):
        self.rule = rule
        self.rises = (rule.min_delta, 2 * rule.min_delta, 3 * rule.min_delta)
        self.cusum = SeriesCusum(len(self.rises))
        #: h by brand size, calibrated by simulation (alerts/calibration.py); the brand's size
        #: is read from the baseline's mentions per bucket.
        self.thresholds: Thresholds = calibrated(
            ("sentiment_dip", self.rises, TOLERANCE),
            self.bank_llrs,
            len(self.rises),
            false_alarms_per_month,
            bucket_s,
            Tolerance(0.0, TOLERANCE),
            # a share is not bursty the way volume is: the burstiest row is every row
            NullGrid(dispersions=(8.0,)),
        )

    def explain(self) -> str:
        return (
            f"the negative-share CUSUM's threshold over {len(self.rises)} rises, by the brand's "
            f"size: {self.thresholds.describe()}"
        )

    def bucket_llrs(self, n: int, k: int, p0: float) -> list[float]:
        """One bucket's LLR per rise: k negatives of n against the usual share p0."""
        q0 = min(p0 + TOLERANCE, 0.97)
        return [share_llr(k, n, q0, max(min(p0 + d, 0.98), q0)) for d in self.rises]

    def bank_llrs(
        self,
        n: np.ndarray,
        pos: np.ndarray,
        neg: np.ndarray,
        expected: np.ndarray,
        share: float,
        r: float,
    ) -> np.ndarray:
        """`bucket_llrs` over arrays, for the calibration's simulations."""
        p0 = min(max(share, 0.01), 0.99)
        q0 = min(p0 + TOLERANCE, 0.97)
        return np.stack(
            [share_llr_array(neg, n, q0, max(min(p0 + d, 0.98), q0)) for d in self.rises],
            axis=-1,
        )

    def settle(self, seq: SeriesCusumState, firing: bool) -> None:
        self.cusum.settle(seq, firing)

    def building(self, seq: SeriesCusumState, per_day: float | None) -> bool:
        """Strong evidence is building (half the threshold): hold the baseline's learning."""
        return seq.cu is not None and max(seq.cu[0]) >= self.thresholds.at(per_day) / 2

    def evaluate(
        self, seq: SeriesCusumState, p0: float, ctx: Context, per_day: float | None
    ) -> list[Finding]:
        bucket = ctx.closed.get(ctx.end - ctx.bucket_s)
        if bucket is None or bucket.n == 0:  # no mentions: no evidence either way
            return self._still(seq)
        n, k = bucket.n, bucket.neg
        q0 = min(p0 + TOLERANCE, 0.97)
        h = self.thresholds.at(per_day)
        s, since, (n_span, neg_span) = self.cusum.fold(
            seq,
            self.bucket_llrs(n, k, p0),
            (n, k),
            start=bucket.start,
            end=ctx.end,
            h=h,
            calm=lambda level: share_llr(k, n, level, q0),
        )
        if self.cusum.firing(seq) or s < h:
            return self._still(seq)
        share = neg_span / n_span if n_span else 0.0
        if n_span < self.rule.min_volume or share - p0 < self.rule.min_delta:
            return []
        # "it is over" is judged against halfway back to usual
        self.cusum.arm(seq, min(max((q0 + share) / 2, q0 + self.rule.min_delta / 2), 0.97))
        return [self._alarm(s, since, int(n_span), int(neg_span), p0, ctx)]

    def _still(self, seq: SeriesCusumState) -> list[Finding]:
        if self.cusum.firing(seq):
            return [Finding(anomalous=False, sustained=not self.cusum.over(seq))]
        return []

    def _alarm(self, s: float, since: int, n: int, neg: int, p0: float, ctx: Context) -> Finding:
        rule = self.rule
        share = neg / n
        started = datetime.fromtimestamp(since, UTC)
        span = ctx.held_since(since)
        summary = (
            f"{ctx.brand}: negative share {share:.0%} since {started:%H:%M} UTC vs {p0:.0%} "
            f"expected ({neg} of {n} mentions); started around {started:%H:%M}, "
            f"{fmt_span(ctx.end - since)} before this alert"
        )
        evidence = partial(
            build_evidence,
            span,
            observed=round(share, 4),
            expected=round(p0, 4),
            expected_low=None,
            expected_high=None,
            unit="negative share since the dip began",
            statistic="cusum_llr",
            statistic_value=round(s, 2),
            p_value=min(1.0, math.exp(-s) * len(self.rises)),
            posts=span.top_neg or span.top,
            query=search_query(ctx.brand, span, sentiment="negative"),
            search_url=ctx.search_url,
        )
        critical = share - p0 >= 2.5 * rule.min_delta and n >= 3 * rule.min_volume
        return Finding(
            anomalous=True,
            sustained=True,
            severity="critical" if critical else "warning",
            proof=evidence,
            summary=summary,
            labels={"change_started": started.isoformat(timespec="minutes")},
        )
