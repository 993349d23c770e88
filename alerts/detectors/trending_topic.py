"""trending_topic: a taxonomy topic taking a growing share of a brand's mentions.

Each topic's baseline share is the ratio of exponentially weighted sums (topic mentions over all
mentions), so quiet hours weigh less than busy ones. A topic the brand never had is compared
with `share_floor`, so a sudden new topic still needs real volume to fire. Two tests, either of
which raises the alert:

- windowed: topic count c out of n mentions in the window is improbable under Binomial(n, p0)
  (alpha split over the topics tested) and the share is at least `min_lift` times p0;
- sequential (alerts/share_cusums.py): per topic, a CUSUM of the binomial LLR of "its share rose
  to lift x p0" for lifts `min_lift`, 2 x and 4 x, bucket by bucket, with the threshold set by
  `false_alarms_per_month` over every topic and lift. Evidence is never dropped at a window
  boundary, so a small brand's trend (a few topic mentions an hour) is caught once enough of
  them add up: at least half of `min_volume` since the estimated start, at `min_lift` x p0.

The threshold is calibrated by simulation (alerts/calibration.py), one topic's three lifts
together, at its share of the budget (1 / `MIN_TOPICS`: more topics add the log of how many
more). The union bound over topics x lifts, h = ln(24 x ARL0) = 12.2 at one false alarm a
month, counted the three lifts of a topic as unrelated and ignored that data at the tolerance's
edge drifts the statistic down; simulated, one a month needs 7.9 at 20 mentions a day, 8.4 at
45 and 10.0 from 150. The simulation draws topic mentions binomially; a brand whose topics are
burstier than that shows it in its own statistics' crossings (alerts/history_threshold.py
`measured_level`), which then raise h, never above the union bound. Real trends climb across
levels too and are counted with the rest: only five or more crossings of a level a month (and
more than the budget) move h, so one trend never does, and a brand that trends at that level
every week is told about it less often, as its budget says.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import partial
from typing import ClassVar

import numpy as np

from alerts.buckets import Bucket
from alerts.calibration import NullGrid, Thresholds, Tolerance, calibrated
from alerts.detectors.base import Context, Finding, strongest
from alerts.evidence import build_evidence, fmt_span, search_query
from alerts.history_threshold import measured_level, watch
from alerts.llr import share_llr_array
from alerts.rule_state import TrendingTopicState
from alerts.rules import TrendingTopicRule
from alerts.sequential import threshold
from alerts.share_cusums import KeyShares, ShareCusums
from alerts.stats import binom_tail_ge, z_from_p
from alerts.windows import WindowSummary

#: The union bound counts at least this many topics, however few the brand has had so far.
MIN_TOPICS = 8
#: A learned share may be 20% off before data counts as evidence against it.
SHARES = ShareCusums(tolerance=0.2)
#: The null a topic's CUSUMs are calibrated under: its share at the edge of the tolerance
#: (usual x 1.2: the worst case still called usual), over a grid of usual shares.
TOPIC_NULL = NullGrid(shares=(0.012, 0.03, 0.06, 0.12, 0.3))


class TopicShares(KeyShares):
    """A brand's topics as the topic CUSUMs read them in one bucket: each topic's usual share
    (`TrendingTopicDetector.baseline_share`) and the shares at `lifts` times it."""

    def __init__(
        self, tp: dict[str, float], total: float, floor: float, lifts: tuple[float, ...]
    ) -> None:
        self.tp = tp
        self.total = total
        self.floor = floor
        self.lifts = lifts

    def baseline(self, key: str) -> float | None:
        return baseline_share(self.tp, self.total, self.floor, key)

    def alternatives(self, q0: float) -> list[float]:
        return [min(q0 * lift, 0.95) for lift in self.lifts]


def baseline_share(tp: dict[str, float], total: float, floor: float, topic: str) -> float:
    """A topic's usual share of mentions (its decayed count over the decayed total), at least
    `floor`: a topic the brand never had still needs real volume to trend."""
    if total <= 0:
        return floor
    return float(max(tp.get(topic, 0.0) / total, floor))


class TrendingTopicDetector:
    State: ClassVar[type[TrendingTopicState]] = TrendingTopicState

    def __init__(self, rule: TrendingTopicRule, bucket_s: int = 300):
        self.rule = rule
        #: The rule's durations in seconds, read once (a rule is a pydantic model: each of its
        #: attributes costs a lookup, and these are read at every bucket)
        self.warmup_s = rule.warmup.total_seconds()
        self.baseline_half_life_s = rule.baseline_half_life.total_seconds()
        self.bucket_s = bucket_s
        self.lifts = (rule.min_lift, 2 * rule.min_lift, 4 * rule.min_lift)
        #: h of one topic's bank at its share of the budget, by brand size (calibration.py).
        self.thresholds: Thresholds = calibrated(
            ("trending_topic", self.lifts, SHARES.tolerance),
            self.bank_llrs,
            len(self.lifts),
            rule.false_alarms_per_month / MIN_TOPICS,
            bucket_s,
            Tolerance(0.0, 0.0),
            TOPIC_NULL,
        )

    def bank_llrs(
        self,
        n: np.ndarray,
        topic: np.ndarray,
        _other: np.ndarray,
        _expected: np.ndarray,
        share: float,
        _dispersion: float,
    ) -> np.ndarray:
        """One topic's bucket LLRs per lift, over arrays, for the calibration's simulations:
        `topic` mentions of `n` carry it, `share` is the null (usual x tolerance), as `fold`
        scores them."""
        return np.stack(
            [share_llr_array(topic, n, share, min(share * lift, 0.95)) for lift in self.lifts],
            axis=-1,
        )

    def union_bound(self, topics: int) -> float:
        """Lorden's bound over every (topic, lift) CUSUM: the ceiling h never goes above."""
        k = max(topics, MIN_TOPICS) * len(self.lifts)
        return threshold(k, self.rule.false_alarms_per_month, self.bucket_s)

    def threshold(
        self, topics: int, per_day: float | None = None, state: TrendingTopicState | None = None
    ) -> float:
        """h for one false alarm budget shared by every topic's CUSUMs of a brand: one topic's
        bank calibrated by simulation at 1 / `MIN_TOPICS` of the budget, plus ln(topics /
        `MIN_TOPICS`) where a brand has more; raised where the brand's own statistics cross
        it more often than the budget (`measured_level`); never above the union bound."""
        extra = math.log(max(topics, MIN_TOPICS) / MIN_TOPICS)
        h = self.thresholds.at(per_day) + extra
        if state is not None:
            fapm = self.rule.false_alarms_per_month
            h = measured_level(state.crossings, state.watched_s, fapm, h)
        return min(self.union_bound(topics), h)

    @staticmethod
    def per_day(state: TrendingTopicState, ctx: Context) -> float | None:
        """The brand's mentions a day since this rule first learned from it (what h is read
        at): a rule added to a brand watched for months counts from its own start, not the
        brand's, or a busy brand would read as a small one and get a small brand's h."""
        since = ctx.end - state.since if state.since >= 0 else ctx.history_s
        watched = min(ctx.history_s, since)
        return state.seen * 86400 / watched if watched > 0 else None

    def explain(self) -> str:
        fapm = self.rule.false_alarms_per_month
        return (
            f"false_alarms_per_month {fapm:g} sets the topic CUSUM's threshold over at least "
            f"{MIN_TOPICS} topics x {len(self.lifts)} lifts: "
            f"{self.thresholds.describe()} (more as a brand has more topics, and higher where "
            "its own topic statistics cross it more often than that); the windowed test keeps "
            "its alpha"
        )

    def _decay(self, bucket_s: int) -> float:
        return float(0.5 ** (bucket_s / self.baseline_half_life_s))

    def baseline_share(self, state: TrendingTopicState, topic: str) -> float:
        return baseline_share(state.tp, state.tot, self.rule.share_floor, topic)

    def learn(
        self, bucket: Bucket, state: TrendingTopicState, ctx: Context, firing: set[str]
    ) -> None:
        if state.since < 0:
            # a state written before it kept its start counted since the brand's first event
            state.since = bucket.start if state.seen == 0 else ctx.end - ctx.history_s
        if bucket.n == 0:
            SHARES.restart(state, firing)
            return
        d = self._decay(ctx.bucket_s)
        topics = state.tp
        state.tot = state.tot * d + bucket.n
        for name in list(topics):
            topics[name] *= d
            if topics[name] < 1e-6:
                del topics[name]
        for name, count in bucket.topics.items():
            if name not in firing:  # a trending topic must not become its own baseline
                topics[name] = topics.get(name, 0.0) + count
        state.seen += bucket.n
        SHARES.restart(state, firing)

    def evaluate(
        self, window: WindowSummary, state: TrendingTopicState, ctx: Context
    ) -> list[Finding]:
        if ctx.history_s < self.warmup_s or state.seen < 100:
            return []
        sequential = self._sequential(window, state, ctx)
        windowed = self._windowed(window, state, ctx) if window.n else []
        return strongest([*windowed, *sequential])  # the windowed first: it wins a tie

    def _windowed(
        self, window: WindowSummary, state: TrendingTopicState, ctx: Context
    ) -> list[Finding]:
        rule = self.rule
        candidates = [(t, c) for t, c in window.topics.items() if c >= rule.min_volume / 2]
        alpha = rule.alpha / max(1, len(state.tp))
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
            evidence = partial(
                build_evidence,
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
                    proof=evidence,
                    summary=summary,
                    topic=topic,
                )
            )
        return findings

    def _sequential(
        self, window: WindowSummary, state: TrendingTopicState, ctx: Context
    ) -> list[Finding]:
        """Fold the bucket just closed into each topic's CUSUM; the alarm where one crossed h,
        and for a firing topic whether the reverse test says it is over."""
        bucket = ctx.closed.get(ctx.end - ctx.bucket_s)
        h = self.threshold(len(state.tp), self.per_day(state, ctx), state)
        state.crossings, state.watched_s = watch(state.crossings, state.watched_s, ctx.bucket_s)
        if bucket is not None and bucket.n:  # an empty bucket is no evidence either way
            SHARES.fold(
                state,
                bucket.n,
                bucket.topics,
                TopicShares(state.tp, state.tot, self.rule.share_floor, self.lifts),
                start=bucket.start,
                end=ctx.end,
                h=h,
                crossings=state.crossings,
            )
        return SHARES.judge(
            state,
            h,
            lambda topic, since, value: self._sequential_finding(topic, since, value, state, ctx),
            lambda topic, over: Finding(anomalous=False, sustained=not over, topic=topic),
        )

    def _sequential_finding(
        self, topic: str, since: int, value: float, state: TrendingTopicState, ctx: Context
    ) -> Finding | None:
        """The alarm, once the CUSUM has crossed h, with enough mentions at a real lift."""
        rule = self.rule
        # counts since the change began are the CUSUM's own (the buckets the engine holds, as
        # long as the longest window, give the posts; and the counts of older states)
        span = ctx.held_since(since)
        count, total = SHARES.since_began(state, topic) or (span.topics.get(topic, 0), span.n)
        if total == 0:
            return None
        p0 = self.baseline_share(state, topic)
        share = count / total
        if count < math.ceil(rule.min_volume / 2) or share < rule.min_lift * p0:
            return None
        SHARES.arm(state, topic, p0, share)  # what "it is over" is weighed against
        started = datetime.fromtimestamp(since, UTC)
        negative = span.topics_neg.get(topic, 0)
        summary = (
            f"{ctx.brand}: '{topic}' is {share:.0%} of mentions since {started:%H:%M} UTC vs "
            f"{p0:.0%} usually ({count} mentions, {negative} negative); started around "
            f"{started:%H:%M}, {fmt_span(ctx.end - since)} before this alert"
        )
        evidence = partial(
            build_evidence,
            span,
            observed=round(share, 4),
            expected=round(p0, 4),
            expected_low=None,
            expected_high=None,
            unit=f"share of mentions about '{topic}' since the change began",
            statistic="cusum_llr",
            statistic_value=round(value, 2),
            p_value=min(1.0, math.exp(-value) * len(self.lifts) * MIN_TOPICS),
            posts=span.top,
            query=search_query(ctx.brand, span, topic=topic),
            search_url=ctx.search_url,
        )
        critical = share >= 3 * rule.min_lift * p0 and count >= 3 * rule.min_volume
        return Finding(
            anomalous=True,
            sustained=True,
            severity="critical" if critical else "warning",
            proof=evidence,
            summary=summary,
            topic=topic,
            labels={"change_started": started.isoformat(timespec="minutes")},
        )
