"""sentiment_dip: a brand's negative share rising significantly above its own baseline.

Baseline: exponentially weighted sums of negative and total counts per closed bucket, so the
expected share p0 is volume-weighted (busy hours count more than quiet ones). Buckets of a firing
episode are not learned from, so a long crisis does not become the new normal.

Test: X = negatives in the window, X ~ Binomial(n, p0) under the baseline; the window is
anomalous when P(X >= observed) < alpha *and* the share rose by at least `min_delta` (a large
brand makes tiny rises significant; nobody wants an alert for +2 points). With reach weighting,
mentions weigh log(1 + followers) and n is Kish's effective sample size (sum w)^2 / sum w^2.
A viral *positive* spike raises volume but not the negative share: it does not trigger this rule.

With `false_alarms_per_month` set, a sequential test runs beside the windowed one
(alerts/detectors/dip_sequential.py); either raises the alert.
"""

from __future__ import annotations

import math
from functools import partial
from typing import ClassVar

from alerts.buckets import Bucket
from alerts.detectors.base import Context, Finding, mean_of, strongest
from alerts.detectors.dip_sequential import SequentialDip
from alerts.evidence import build_evidence, fmt_span, search_query
from alerts.rule_state import (
    SentimentDipState,
)
from alerts.rules import SentimentDipRule
from alerts.sequential import beside_window
from alerts.stats import EWMA, binom_tail_ge, z_from_p
from alerts.windows import WindowSummary


class SentimentDipDetector:
    State: ClassVar[type[SentimentDipState]] = SentimentDipState

    def __init__(self, rule: SentimentDipRule, bucket_s: int = 300):
        self.rule = rule
        #: The rule's durations in seconds, read once (a rule is a pydantic model: each of its
        #: attributes costs a lookup, and these are read at every bucket)
        self.warmup_s = rule.warmup.total_seconds()
        self.baseline_half_life_s = rule.baseline_half_life.total_seconds()
        fapm = rule.false_alarms_per_month
        self.sequential = None if fapm is None else SequentialDip(rule, fapm, bucket_s)

    def explain(self) -> str:
        text = "" if self.sequential is None else self.sequential.explain()
        return beside_window(self.rule.false_alarms_per_month, text)

    def _baseline(self, state: SentimentDipState, bucket_s: int) -> tuple[EWMA, EWMA]:
        neg, tot = state.neg, state.n
        if neg is None or tot is None:  # nothing learned yet (read at every bucket)
            half_life = max(1.0, self.baseline_half_life_s / bucket_s)
            neg = neg if neg is not None else EWMA(half_life)
            tot = tot if tot is not None else EWMA(half_life)
        return neg, tot

    def learn(
        self, bucket: Bucket, state: SentimentDipState, ctx: Context, firing: set[str]
    ) -> None:
        if self.sequential is not None:
            self.sequential.settle(state.seq, bool(firing))
            if self.sequential.building(state.seq, self.per_day(state, ctx)):
                return
        if firing or bucket.n == 0 or state.hold:
            return
        neg, tot = self._baseline(state, ctx.bucket_s)
        if self.rule.reach_weighted:
            neg.update(bucket.wn)
            tot.update(bucket.w)
        else:
            neg.update(bucket.neg)
            tot.update(bucket.n)
        state.neg, state.n = neg, tot
        state.seen += bucket.n

    @staticmethod
    def per_day(state: SentimentDipState, ctx: Context) -> float | None:
        """The brand's size: mentions learned a day so far (the CUSUM's threshold is
        calibrated by it)."""
        if ctx.history_s <= 0 or not state.seen:
            return None
        return state.seen * 86400 / ctx.history_s

    def expected_share(self, state: SentimentDipState, bucket_s: int) -> float | None:
        neg, tot = self._baseline(state, bucket_s)
        total = mean_of(tot)
        if total <= 0:
            return None
        return mean_of(neg) / total

    def evaluate(
        self, window: WindowSummary, state: SentimentDipState, ctx: Context
    ) -> list[Finding]:
        rule = self.rule
        p0 = self.expected_share(state, ctx.bucket_s)
        warmed = ctx.history_s >= self.warmup_s and state.seen >= 3 * rule.min_volume
        state.hold = False
        if p0 is None or not warmed:
            return []
        p0 = min(max(p0, 0.01), 0.99)
        windowed = self._windowed(window, state, ctx, p0) if window.n >= rule.min_volume else []
        if self.sequential is None:
            return windowed
        sequential = self.sequential.evaluate(state.seq, p0, ctx, self.per_day(state, ctx))
        return strongest([*windowed, *sequential])

    def _windowed(
        self, window: WindowSummary, state: SentimentDipState, ctx: Context, p0: float
    ) -> list[Finding]:
        rule = self.rule
        if rule.reach_weighted and window.w2 > 0:
            share = window.wn / window.w
            n_eff = window.w * window.w / window.w2
            p_value = binom_tail_ge(share * n_eff, n_eff, p0)
        else:
            share = window.neg / window.n
            n_eff = float(window.n)
            p_value = binom_tail_ge(window.neg, window.n, p0)
        delta = share - p0
        # suspicious windows are not learned from (see VolumeSpikeDetector.learn)
        state.hold = p_value < math.sqrt(rule.alpha) and delta >= rule.min_delta / 2
        anomalous = p_value < rule.alpha and delta >= rule.min_delta
        sustained = p_value < math.sqrt(rule.alpha) and delta >= rule.min_delta / 2
        if not (anomalous or sustained):
            return [Finding(anomalous=False, sustained=False)]
        spread = 2.576 * math.sqrt(p0 * (1 - p0) / max(n_eff, 1.0))
        critical = delta >= 2.5 * rule.min_delta and window.n >= 3 * rule.min_volume
        evidence = partial(
            build_evidence,
            window,
            observed=round(share, 4),
            expected=round(p0, 4),
            expected_low=round(max(0.0, p0 - spread), 4),
            expected_high=round(min(1.0, p0 + spread), 4),
            unit="reach-weighted negative share" if rule.reach_weighted else "negative share",
            statistic="binomial_z",
            statistic_value=round(z_from_p(p_value), 2),
            p_value=p_value,
            posts=window.top_neg or window.top,
            query=search_query(ctx.brand, window, sentiment="negative"),
            search_url=ctx.search_url,
        )
        summary = (
            f"{ctx.brand}: negative share {share:.0%} over the last "
            f"{fmt_span(window.end - window.start)} vs {p0:.0%} expected "
            f"({window.neg} of {window.n} mentions)"
        )
        return [
            Finding(
                anomalous=anomalous,
                sustained=sustained,
                severity="critical" if critical else "warning",
                proof=evidence,
                summary=summary,
            )
        ]
