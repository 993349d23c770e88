"""trending_topic: a taxonomy topic taking a growing share of a brand's mentions.

Each topic's baseline share is the ratio of exponentially weighted sums (topic mentions over all
mentions), so quiet hours weigh less than busy ones. A window where topic count c out of n
mentions is improbable under Binomial(n, p0) (alpha split over the topics tested) and the share
is at least `min_lift` times p0 is a trend. A topic the brand never had is compared with
`share_floor`, so a sudden new topic still needs real volume to fire.
"""

from __future__ import annotations

import math
from typing import Any

from alerts.buckets import Bucket, WindowSummary
from alerts.detectors.base import Context, Finding
from alerts.evidence import build_evidence, fmt_span, search_query
from alerts.rules import TrendingTopicRule
from alerts.stats import binom_tail_ge, z_from_p


class TrendingTopicDetector:
    def __init__(self, rule: TrendingTopicRule):
        self.rule = rule

    def _decay(self, bucket_s: int) -> float:
        return float(0.5 ** (bucket_s / self.rule.baseline_half_life.total_seconds()))

    def baseline_share(self, state: dict[str, Any], topic: str) -> float:
        total = state.get("tot", 0.0)
        if total <= 0:
            return self.rule.share_floor
        return float(max(state.get("tp", {}).get(topic, 0.0) / total, self.rule.share_floor))

    def learn(self, bucket: Bucket, state: dict[str, Any], ctx: Context, firing: set[str]) -> None:
        if bucket.n == 0:
            return
        d = self._decay(ctx.bucket_s)
        topics: dict[str, float] = state.setdefault("tp", {})
        state["tot"] = state.get("tot", 0.0) * d + bucket.n
        for name in list(topics):
            topics[name] *= d
            if topics[name] < 1e-6:
                del topics[name]
        for name, count in bucket.topics.items():
            if name not in firing:  # a trending topic must not become its own baseline
                topics[name] = topics.get(name, 0.0) + count
        state["seen"] = state.get("seen", 0) + bucket.n

    def evaluate(self, window: WindowSummary, state: dict[str, Any], ctx: Context) -> list[Finding]:
        rule = self.rule
        if (
            ctx.history_s < rule.warmup.total_seconds()
            or state.get("seen", 0) < 100
            or window.n == 0
        ):
            return []
        candidates = [(t, c) for t, c in window.topics.items() if c >= rule.min_volume / 2]
        alpha = rule.alpha / max(1, len(state.get("tp", {})))
        findings = []
        for topic, count in candidates:
            p0 = self.baseline_share(state, topic)
            share = count / window.n
            p_value = binom_tail_ge(count, window.n, p0)
            anomalous = p_value < alpha and count >= rule.min_volume and share >= rule.min_lift * p0
            sustained = p_value < math.sqrt(alpha) and share >= (1 + (rule.min_lift - 1) / 2) * p0
            if not (anomalous or sustained):
                continue
            spread = 2.576 * math.sqrt(p0 * (1 - p0) / window.n)
            critical = share >= 3 * rule.min_lift * p0 and count >= 3 * rule.min_volume
            evidence = build_evidence(
                window,
                observed=round(share, 4),
                expected=round(p0, 4),
                expected_low=round(max(0.0, p0 - spread), 4),
                expected_high=round(p0 + spread, 4),
                unit=f"share of mentions about '{topic}'",
                statistic="binomial_z",
                statistic_value=round(z_from_p(p_value), 2),
                p_value=p_value,
                posts=window.top,
                query=search_query(ctx.brand, window, topic=topic),
                search_url=ctx.search_url,
            )
            negative = window.topics_neg.get(topic, 0)
            summary = (
                f"{ctx.brand}: '{topic}' is {share:.0%} of mentions over the last "
                f"{fmt_span(window.end - window.start)} vs {p0:.0%} usually "
                f"({count} mentions, {negative} negative)"
            )
            findings.append(
                Finding(
                    anomalous=anomalous,
                    sustained=sustained,
                    severity="critical" if critical else "warning",
                    evidence=evidence,
                    summary=summary,
                    topic=topic,
                )
            )
        return findings
