"""volume_spike: mention volume above what this hour of this day usually brings.

Seasonal baseline (alerts/detectors/seasonal_volume.py), learned per closed bucket:
- an hour-of-day profile (24 slots of expected mentions per bucket, exponentially weighted with
  a half-life of days), updated with *winsorised* counts so spikes barely move it, and each
  slot read with half its weight on its two neighbours (`_slot`);
- a day-of-week factor (ratio of each finished day's volume to the hour-of-day profile at the
  level the day began with; a weekday not seen yet is expected like the day before it);
- a level that follows slow drifts (ratio of recent observed to expected volume, half-life of
  hours), so a brand that grows over a week is not in permanent "spike". When a day's factor
  is relearned, that day's part of the level is re-expressed at the new factor, so the level
  holds the drift and the factors the weekly shape, each once.
Expected volume of a window = sum over its non-gap buckets of profile x weekday x level.

Test: counts are overdispersed (bursty), so the window count is compared with a negative
binomial whose dispersion is the larger of two estimates: the brand's own windows (the ones
that were not anomalous) and its single buckets (every one outside an alert, residuals clipped;
`burst_phi`), which see an hour-long burst that the windows' estimate reads low. Anomalous
when P(X >= observed) < alpha, observed >= min_volume and observed is at least `min_ratio`
times the expectation. No alert before `warmup` of history: the morning
ramp-up of a day not yet seen would otherwise look like a spike.

With `false_alarms_per_month` set, a sequential test runs beside the windowed one
(alerts/detectors/volume_sequential.py); either raises the alert.
"""

from __future__ import annotations

import math
from functools import partial
from typing import ClassVar

from alerts.buckets import Bucket
from alerts.detectors.base import Context, Finding, strongest
from alerts.detectors.seasonal_volume import SeasonalVolume
from alerts.detectors.volume_sequential import SequentialVolume
from alerts.evidence import build_evidence, fmt_span, search_query
from alerts.rule_state import VolumeProfile, VolumeSpikeState
from alerts.rules import VolumeSpikeRule
from alerts.sequential import beside_window
from alerts.stats import negbin_quantile, negbin_tail_ge, z_from_p
from alerts.windows import WindowSummary

#: A window this improbable keeps its buckets out of the profile (the guard band of `learn`).
#: Not 0.05: a small brand's window with a few mentions is that improbable every day or two,
#: and holding back its busiest buckets while learning every empty one drags the profile down
#: (seen: an afternoon hour of a 45-a-day brand learned as 0 mentions), which flags more
#: buckets still, and evening ramp-ups then read as spikes. 1e-3 and 1e-4 gave the same
#: alerts on the tuning sets.
GUARD_P = 1e-3


class VolumeSpikeDetector(SeasonalVolume):
    State: ClassVar[type[VolumeSpikeState]] = VolumeSpikeState

    def __init__(self, rule: VolumeSpikeRule, bucket_s: int = 300, *, level_late: bool = False):
        super().__init__(rule, level_late=level_late)
        #: read once (a rule is a pydantic model: each of its attributes costs a lookup)
        self.warmup_s = rule.warmup.total_seconds()
        fapm = rule.false_alarms_per_month
        self.sequential = None if fapm is None else SequentialVolume(self, fapm, bucket_s)

    def explain(self) -> str:
        text = "" if self.sequential is None else self.sequential.explain()
        return beside_window(self.rule.false_alarms_per_month, text)

    def learn(self, bucket: Bucket, state: VolumeProfile, ctx: Context, firing: set[str]) -> None:
        """The sequential test's baselines, then the seasonal profile's (`SeasonalVolume.learn`)."""
        # the crisis rule learns its own profile here (a bare VolumeProfile, no sequential test)
        if self.sequential is not None and isinstance(state, VolumeSpikeState):
            self.sequential.learn(bucket, state, ctx, firing)
        super().learn(bucket, state, ctx, firing)

    # -- judgement --------------------------------------------------------------------------
    def evaluate(
        self, window: WindowSummary, state: VolumeSpikeState, ctx: Context
    ) -> list[Finding]:
        if ctx.history_s < self.warmup_s or not window.starts:
            return []
        windowed = self._windowed(window, state, ctx)
        if self.sequential is None:
            return windowed
        return strongest([*windowed, *self.sequential.evaluate(state, ctx)])

    def _windowed(self, window: WindowSummary, state: VolumeProfile, ctx: Context) -> list[Finding]:
        rule = self.rule
        total = self.expected_sum(state, window.starts)
        if total is None:
            return []
        expected = max(total, 0.05)
        observed = window.n
        phi = max(self.phi(state), self.burst_phi(state))
        dispersion = 1.0 / phi
        # At or below its expectation a window is neither a spike (min_ratio >= 1) nor held
        # out of learning: its upper tail is not needed (two thirds of a replay's windows)
        p_up = (
            negbin_tail_ge(observed, expected, dispersion)
            if observed > expected or rule.min_ratio <= 1.0
            else 1.0
        )
        up = (
            p_up < rule.alpha
            and observed >= rule.min_volume
            and observed >= rule.min_ratio * expected
        )
        up_sustained = (
            p_up < math.sqrt(rule.alpha)
            and observed >= rule.min_volume / 2
            and observed >= (1 + (rule.min_ratio - 1) / 2) * expected
        )
        # Anything unusual (even far from alerting) keeps this window's buckets out of the
        # baseline: the guard band of `learn`.
        state.flag_from = window.start if (p_up < GUARD_P and observed > expected) else -1
        down = False
        p_down = 1.0
        if rule.direction == "both" and expected >= rule.min_volume:
            p_down = 1.0 - negbin_tail_ge(observed + 1, expected, dispersion)
            down = p_down < rule.alpha and observed * rule.min_ratio <= expected
        if not (up or up_sustained or down):
            # Every non-anomalous window counts: dropping the unusual ones would truncate the
            # residual tail and bias the overdispersion (and so the false-alarm rate) downward.
            if expected >= 1:
                # calibrate overdispersion on ordinary windows only (pooled moments)
                pair = state.phi
                d = self._phi_decay
                pair[0] = pair[0] * d + (observed - expected) ** 2 - expected
                pair[1] = pair[1] * d + expected**2
            return [Finding(anomalous=False, sustained=False)]
        p_value = p_up if (up or up_sustained) else p_down
        ratio = observed / expected
        critical = observed >= 3 * rule.min_volume and (ratio >= 3 * rule.min_ratio or ratio <= 0.1)
        span = fmt_span(window.end - window.start)
        if up or up_sustained:
            summary = (
                f"{ctx.brand}: {observed} mentions in the last {span}, {ratio:.1f}x the "
                f"{expected:.0f} expected for this time"
            )
        else:
            summary = (
                f"{ctx.brand}: only {observed} mentions in the last {span}, "
                f"{expected:.0f} expected — a drop (or the source stopped)"
            )
        evidence = partial(
            build_evidence,
            window,
            observed=float(observed),
            expected=round(expected, 1),
            expected_low=float(negbin_quantile(0.005, expected, dispersion)),
            expected_high=float(negbin_quantile(0.995, expected, dispersion)),
            unit="mentions",
            statistic="negbin_z",
            statistic_value=round(z_from_p(p_value), 2),
            p_value=p_value,
            posts=window.top,
            query=search_query(ctx.brand, window),
            search_url=ctx.search_url,
            baseline_volume=round(expected, 1),
        )
        return [
            Finding(
                anomalous=up or down,
                sustained=up_sustained or down,
                severity="critical" if critical else "warning",
                proof=evidence,
                summary=summary,
                labels={"direction": "up" if up or up_sustained else "down"},
            )
        ]
