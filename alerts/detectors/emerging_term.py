"""emerging_term: a hashtag, word or phrase rising from nothing for a brand.

The background is the brand's own vocabulary: exponentially decayed counts of every term it has
been mentioned with (the decay is applied lazily through a growing scale factor, so a bucket
close costs O(new terms), not O(vocabulary)). In a window of n mentions a term with count c is
emerging when its background share is tiny (at most `max_background_share`), c >= min_volume,
c/n is at least `min_lift` times its smoothed background share, and P(X >= c) under
Binomial(n, p_background) is below alpha divided by the number of terms tested.
"""

from __future__ import annotations

import math
from typing import Any

from alerts.buckets import Bucket, RunningTerms, WindowSummary
from alerts.detectors.base import Context, Finding
from alerts.evidence import build_evidence, fmt_span, search_query
from alerts.rules import EmergingTermRule
from alerts.stats import binom_tail_ge, z_from_p

#: Terms remembered per brand and rule; the least frequent are forgotten beyond this. The
#: background lives in the brand's table value, which must stay well under a Kafka message
#: (1 MiB): 20,000 terms took ~340 kB per rule for a 2,000-mentions/day brand.
MAX_VOCABULARY = 8_000
#: Once a day, terms whose decayed count fell below this are forgotten: a word seen once a
#: week ago tells nothing a word never seen does not (both have a negligible background share).
FORGET_BELOW = 0.5
PRUNE_EVERY_S = 86_400
RESCALE_AT = 1e12


class EmergingTermDetector:
    def __init__(self, rule: EmergingTermRule):
        self.rule = rule
        self.ignore = {t.lower() for t in rule.ignore}

    def _background(self, state: dict[str, Any]) -> tuple[dict[str, float], float, float]:
        return state.setdefault("bg", {}), state.get("scale", 1.0), state.get("N", 0.0)

    def learn(self, bucket: Bucket, state: dict[str, Any], ctx: Context, firing: set[str]) -> None:
        if bucket.n == 0:
            return
        bg, scale, total = self._background(state)
        scale /= 0.5 ** (ctx.bucket_s / self.rule.background_half_life.total_seconds())
        total += bucket.n * scale
        for term, count in bucket.terms.items():
            if term not in firing:
                bg[term] = bg.get(term, 0.0) + count * scale
        if scale > RESCALE_AT:
            for term in bg:
                bg[term] /= scale
            total /= scale
            scale = 1.0
        since = state.get("since_prune", 0) + ctx.bucket_s
        if since >= PRUNE_EVERY_S:
            # forget faded terms, and rescale to plain counts with 3 decimals (17-digit floats
            # of a large scale made up half the stored size)
            bg = state["bg"] = {
                t: round(c / scale, 3) for t, c in bg.items() if c >= FORGET_BELOW * scale
            }
            total, scale, since = total / scale, 1.0, 0
        if len(bg) > MAX_VOCABULARY:
            keep = sorted(bg.items(), key=lambda kv: -kv[1])[: MAX_VOCABULARY * 3 // 4]
            state["bg"] = dict(keep)
        state["scale"], state["N"], state["since_prune"] = scale, total, since
        state["seen"] = state.get("seen", 0) + bucket.n

    def evaluate(self, window: WindowSummary, state: dict[str, Any], ctx: Context) -> list[Finding]:
        rule = self.rule
        if ctx.history_s < rule.warmup.total_seconds() or state.get("seen", 0) < 200:
            return []
        bg, scale, total = self._background(state)
        mentions = total / scale
        # Sliding-window term counts, kept incrementally (a full merge per evaluation would cost
        # O(window x vocabulary)); only terms at half the minimum volume are looked at.
        window_s = window.end - window.start
        running = ctx.cache.get(("terms", window_s))
        if running is None:
            running = ctx.cache[("terms", window_s)] = RunningTerms(window_s, rule.min_volume / 2)
        running.update(ctx.closed, window.end, ctx.bucket_s)
        candidates = [
            (t, running.counts[t])
            for t in running.hot
            if t not in self.ignore and (rule.terms == "all" or t.startswith("#"))
        ]
        if not candidates:
            return []
        alpha = rule.alpha / len(candidates)
        findings = []
        for term, count in candidates:
            seen = bg.get(term, 0.0) / scale
            share_bg = seen / mentions if mentions > 0 else 0.0
            if share_bg > rule.max_background_share:
                continue
            p0 = max((seen + 0.5) / (mentions + 1.0), 1e-5)
            share = count / window.n
            p_value = binom_tail_ge(count, window.n, p0)
            anomalous = p_value < alpha and count >= rule.min_volume and share >= rule.min_lift * p0
            sustained = p_value < math.sqrt(alpha) and count >= rule.min_volume / 2
            if not (anomalous or sustained):
                continue
            expected = p0 * window.n
            spread = 2.576 * math.sqrt(max(expected * (1 - p0), 1e-9))
            critical = count >= 4 * rule.min_volume
            evidence = build_evidence(
                window,
                observed=float(count),
                expected=round(expected, 2),
                expected_low=0.0,
                expected_high=round(expected + spread, 2),
                unit=f"mentions with '{term}'",
                statistic="binomial_z",
                statistic_value=round(z_from_p(p_value), 2),
                p_value=p_value,
                posts=window.top,
                query=search_query(ctx.brand, window, term=term),
                search_url=ctx.search_url,
            )
            summary = (
                f"{ctx.brand}: new term '{term}' in {count} of {window.n} mentions over "
                f"the last {fmt_span(window.end - window.start)} (background "
                f"{share_bg:.2%})"
            )
            findings.append(
                Finding(
                    anomalous=anomalous,
                    sustained=sustained,
                    severity="critical" if critical else "warning",
                    evidence=evidence,
                    summary=summary,
                    term=term,
                )
            )
        return findings
