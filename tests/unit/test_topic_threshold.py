"""The trending-topic CUSUM threshold: calibrated by simulation for one topic's bank of lifts
(alerts/detectors/trending_topic.py), and raised by the brand's own history where its topics
are burstier than the simulated null (alerts/history_threshold.py `measured_level`)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from alerts.calibration import NullGrid, Tolerance, calibrate, period_max
from alerts.detectors.trending_topic import MIN_TOPICS, SHARES, TrendingTopicDetector
from alerts.history_threshold import (
    LEVELS,
    MIN_CROSSINGS,
    MIN_HISTORY_S,
    PER_MONTH_S,
    empty_tally,
    measured_level,
)
from alerts.llr import share_llr
from alerts.rule_state import TrendingTopicState
from alerts.rules import TrendingTopicRule
from alerts.sequential import threshold


def detector(false_alarms_per_month: float = 1.0) -> TrendingTopicDetector:
    rule = TrendingTopicRule(
        name="topics",
        kind="trending_topic",
        window="1h",
        min_volume=10,
        min_lift=2.5,
        false_alarms_per_month=false_alarms_per_month,
    )
    return TrendingTopicDetector(rule)


def test_the_simulation_scores_a_topic_as_the_cusums_fold_it():
    """The calibration's vectorised LLRs equal what `ShareCusums.fold` adds for a topic:
    the binomial LLR of each lift against the usual share at the tolerance's edge."""
    topics = detector()
    rng = random.Random(2)
    for _ in range(200):
        n = rng.choice([1, 2, 3, 7, 20, 60])
        count = rng.randint(0, n)
        p0 = rng.uniform(0.005, 0.4)
        q0 = min(p0 * (1 + SHARES.tolerance), 0.95)
        live = [share_llr(count, n, q0, min(q0 * lift, 0.95)) for lift in topics.lifts]
        arrays = [np.array([[float(x)]]) for x in (n, count, 0)]
        simulated = topics.bank_llrs(*arrays, np.array([1.0]), q0, 8.0)[0, 0]
        assert np.allclose(live, simulated, atol=1e-9)


def test_the_calibrated_threshold_is_below_the_union_bound_and_grows_with_size():
    topics = detector()
    union = threshold(MIN_TOPICS * len(topics.lifts), 1.0, 300)
    assert topics.union_bound(0) == pytest.approx(union)
    small, busy = topics.threshold(5, 20.0), topics.threshold(5, 2000.0)
    assert small < busy < union - 2  # two nats sooner even at 2,000 a day
    # a brand with more topics than the minimum pays the log of how many more
    assert topics.threshold(16, 2000.0) == pytest.approx(busy + math.log(2), abs=1e-9)
    assert topics.threshold(10_000, 2000.0) < topics.union_bound(10_000)
    assert "calibrated by simulation" in topics.explain()


@pytest.mark.parametrize(("per_day", "share"), [(45.0, 0.03), (600.0, 0.06), (600.0, 0.3)])
def test_a_topic_threshold_holds_its_target_in_a_fresh_simulation(per_day, share):
    """h calibrated for 30 false alarms a month per topic bank (seeded chains), then checked on
    chains it never saw: a day's chains cross it no more often than 1 - e^-1 of the time."""
    topics = detector()
    grid = NullGrid(sizes=(per_day,), shares=(share,), dispersions=(8.0,), chains=256, seed=1)
    h = calibrate(topics.bank_llrs, 3, 30.0, 300, tolerance=Tolerance(0.0, 0.0), grid=grid)
    assert h.values[0] < threshold(3, 30.0, 300)
    rng = np.random.default_rng(99)
    crossed = []
    for _ in range(30):
        best = period_max(topics.bank_llrs, per_day=per_day, share=share, dispersion=8.0,
                          buckets=288, bucket_s=300, tolerance=Tolerance(0.0, 0.0), chains=256,
                          rng=rng)  # fmt: skip
        crossed.append(float((best >= h.values[0]).mean()))
    assert float(np.mean(crossed)) <= 1 - math.exp(-1) + 0.05


def test_a_history_that_crosses_the_level_too_often_raises_it():
    months = 1.0
    watched = months * PER_MONTH_S
    tally = empty_tally()
    # crossed 8 times a month at 10 and 11, twice at 12, never higher
    for level, per_month in ((8, 30.0), (9, 20.0), (10, 8.0), (11, 8.0), (12, 2.0)):
        tally[LEVELS.index(float(level))] = per_month * months
    assert measured_level(tally, watched, 1.0, 10.0) == 12.0  # first level crossed few enough
    assert measured_level(tally, watched, 1.0, 9.4) == 12.0  # counted at 9: at least as often
    assert measured_level(tally, watched, 10.0, 10.0) == 10.0  # within a larger budget
    assert measured_level(tally, watched, 1.0, 12.5) == 12.5  # already above: unchanged


def test_too_short_a_history_or_one_incidents_climb_never_moves_it():
    tally = empty_tally()
    for i in range(len(LEVELS)):  # one climb to the top: a trend that did happen
        tally[i] = 1.0
    assert measured_level(tally, 20 * 86_400, 1.0, 10.0) == 10.0
    many = [MIN_CROSSINGS * 4] * len(LEVELS)
    assert measured_level(many, MIN_HISTORY_S - 1, 1.0, 10.0) == 10.0  # too short
    assert measured_level(many[:-1], 20 * 86_400, 1.0, 10.0) == 10.0  # another set of levels
    assert measured_level(many, 20 * 86_400, 1.0, 10.0) == LEVELS[-1]  # crossed everywhere


def test_the_detector_reads_the_brands_history_and_keeps_the_union_bound_as_ceiling():
    topics = detector()
    state = TrendingTopicState()
    calm = topics.threshold(5, 600.0, state)
    assert calm == topics.threshold(5, 600.0)
    state.crossings, state.watched_s = [10.0] * len(LEVELS), 0.5 * PER_MONTH_S  # 20 a month
    assert topics.threshold(5, 600.0, state) == topics.union_bound(5)


def test_a_bursty_brands_topics_raise_its_threshold_through_the_detector():
    """Topic mentions that come in bursts (a thread, one story quoted all afternoon) cross a
    binomial null's threshold far more often than budgeted; after some days of watching, the
    tally kept as the detector folds buckets raises h for that brand, and only for it."""
    from datetime import UTC, datetime

    from alerts.buckets import Bucket
    from alerts.detectors.base import Context
    from alerts.windows import summarize

    def run(bursty: bool) -> float:
        topics, state = detector(), TrendingTopicState()
        rng = np.random.default_rng(5)
        start = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
        closed: dict[int, Bucket] = {}
        h = 0.0
        hot = 0.05
        for b in range(14 * 288):
            t = start + b * 300
            if b % 12 == 0:  # each hour: bursty topics run hot or cold for the hour
                hot = float(rng.beta(0.5, 9.5)) if bursty else 0.05
            n = int(rng.poisson(2.0))
            bucket = Bucket(start=t, n=n)
            for topic in ("baggage", "refunds", "delays", "wifi"):
                c = int(rng.binomial(n, hot))
                if c:
                    bucket.topics[topic] = c
            closed = {t: bucket}
            ctx = Context(brand="b", end=t + 300, bucket_s=300, history_s=(b + 1) * 300,
                          search_url=None, closed=closed, cache={})  # fmt: skip
            topics._sequential(summarize([bucket], t, t + 300), state, ctx)
            topics.learn(bucket, state, ctx, set())
            h = topics.threshold(len(state.tp), topics.per_day(state, ctx), state)
        return h

    assert run(bursty=True) > run(bursty=False) + 1.0


def test_a_rule_added_to_a_long_watched_brand_reads_its_size_from_its_own_start():
    """A busy brand watched for a year gets a trending rule today: its size (what h is read
    at) is the mentions this rule has seen over the time since it started, not over the
    brand's year, or it would be judged as a tiny brand (a lower h, more false alarms)."""
    from alerts.buckets import Bucket
    from alerts.detectors.base import Context

    topics = detector()
    state = TrendingTopicState()
    year = 365 * 86_400
    start = 1_790_000_000 - 1_790_000_000 % 300
    for b in range(288):  # one day at 2,000 a day: about 7 mentions a bucket
        t = start + b * 300
        ctx = Context(brand="b", end=t + 300, bucket_s=300, history_s=year + (b + 1) * 300,
                      search_url=None, closed={}, cache={})  # fmt: skip
        topics.learn(Bucket(start=t, n=7), state, ctx, set())
    assert state.since == start
    assert topics.per_day(state, ctx) == pytest.approx(7 * 288)
    # a state from before `since` was kept goes on counting from the brand's first event
    old = TrendingTopicState.load({k: v for k, v in state.dump().items() if k != "since"})
    assert old.since == -1
    topics.learn(Bucket(start=start + 288 * 300, n=7), old, ctx, set())
    assert old.since == ctx.end - ctx.history_s
