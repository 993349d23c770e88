"""The new-term CUSUM threshold read from a brand's own history (alerts/history_threshold.py):
the tally, its decay, the level it reads, and that level's false-alarm rate on a null stream
the tally never saw."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alerts.detectors.emerging_term import TERM_SHARES, EmergingTermDetector
from alerts.history_threshold import (
    AIM,
    HALF_LIFE_S,
    LEVELS,
    MIN_HISTORY_S,
    PER_MONTH_S,
    count_crossings,
    decay,
    empty_tally,
    from_history,
)
from alerts.rule_state import EmergingTermState, ShareCusumsState
from alerts.rules import EmergingTermRule
from alerts.sequential import threshold
from alerts.share_cusums import FunctionShares, ShareCusums


def test_a_climb_counts_each_level_it_crosses_once():
    tally = empty_tally()
    count_crossings(tally, 7.5, 10.2)  # 8, 9 and 10
    count_crossings(tally, 10.2, 10.9)  # nothing new
    count_crossings(tally, 10.9, 3.0)  # falling never counts
    count_crossings(tally, 0.0, 7.9)  # below the lowest level
    assert tally[:4] == [1.0, 1.0, 1.0, 0.0] and sum(tally) == 3.0
    count_crossings(tally, 0.0, 100.0)  # every level, however far past the last
    assert tally[0] == 2.0 and tally[-1] == 1.0


def test_the_tally_and_the_time_watched_halve_in_a_half_life():
    tally = [4.0] * len(LEVELS)
    watched = decay(tally, 10 * 86_400.0, HALF_LIFE_S)
    assert tally == [2.0] * len(LEVELS)
    assert watched == pytest.approx(5 * 86_400 + HALF_LIFE_S)


def _exponential_tally(rate_at_8: float, slope: float, months: float) -> list[float]:
    """Expected crossings of each level in `months` for a tail rate(x) = rate_at_8 e^-slope(x-8)."""
    return [rate_at_8 * months * math.exp(-slope * (x - LEVELS[0])) for x in LEVELS]


@pytest.mark.parametrize("slope", [0.5, 0.65, 0.8])
def test_the_level_read_is_where_the_tail_reaches_the_aim(slope):
    months = 0.4
    tally = _exponential_tally(300.0, slope, months)
    h = from_history(tally, months * PER_MONTH_S, 1.0)
    exact = LEVELS[0] + math.log(300.0 / AIM) / slope  # where rate(h) = AIM x 1 a month
    assert h == pytest.approx(exact, abs=0.05)


def test_too_short_or_too_thin_a_history_says_nothing():
    tally = _exponential_tally(300.0, 0.7, 0.4)
    assert from_history(tally, MIN_HISTORY_S - 1, 1.0) is None  # too short
    assert from_history([0.0, 4.0, *[0.0] * (len(LEVELS) - 2)], 30 * 86_400, 1.0) is None
    assert from_history(tally[:-1], 30 * 86_400, 1.0) is None  # another set of levels
    assert from_history(empty_tally(), 30 * 86_400, 1.0) is None


def test_the_detector_uses_history_only_between_one_term_and_the_union_bound():
    rule = EmergingTermRule(name="terms", kind="emerging_term", window="1h", min_volume=8,
                            min_lift=5, alpha=1e-4, false_alarms_per_month=1)  # fmt: skip
    detector = EmergingTermDetector(rule)
    state = EmergingTermState()
    union = detector.threshold(0)
    assert detector.sequential_threshold(state) == union  # no history: the union bound
    state.crossings, state.watched_s = _exponential_tally(100.0, 0.8, 0.3), 0.3 * PER_MONTH_S
    lowered = detector.sequential_threshold(state)
    assert lowered == pytest.approx(8 + math.log(100 / AIM) / 0.8, abs=0.05) and lowered < union
    state.crossings = _exponential_tally(1e6, 0.4, 0.3)  # a history noisier than the bound
    assert detector.sequential_threshold(state) == union
    state.crossings = [1e3 * 0.3] * 2 + [0.0] * (len(LEVELS) - 2)  # never past 9 nats
    one_term = threshold(len(TERM_SHARES), 1.0, 300)
    assert detector.sequential_threshold(state) >= one_term
    assert "own terms reach 0.5 times a month" in detector.explain()


def test_a_state_from_before_the_tally_loads_and_round_trips_with_it():
    old = EmergingTermState(bg={"#a": 1.0}, N=10.0, seen=300).dump()
    del old["crossings"], old["watched_s"]
    state = EmergingTermState.load(old)
    assert state.crossings == [] and state.watched_s == 0.0
    state.crossings, state.watched_s = [1.5] * len(LEVELS), 86_400.0
    again = EmergingTermState.load(state.dump())
    assert again.crossings == state.crossings and again.watched_s == 86_400.0


def test_on_a_null_stream_the_level_read_from_one_month_alarms_about_as_budgeted_the_next():
    """Terms of a small brand's vocabulary appear at their usual (tiny) shares, some in
    bursts (a person posting twice, a thread): the tally of one simulated month sets h, and a
    second month, with other draws, counts how many term excursions reach it. A union bound
    over the vocabulary would be far higher; the level read must hold the second month to
    the budget (1 a month: the level aims at half), not merely come out lower."""
    rng = np.random.default_rng(11)
    shares = ShareCusums(tolerance=0.2)
    vocabulary = 3_000
    usual = rng.uniform(2e-4, 2e-3, vocabulary)  # shares as the background gives them
    lift = 5.0

    def alternatives(q0):
        return [max(s, min(q0 * lift, 0.95)) for s in TERM_SHARES]

    def month(seed: int) -> list[float]:
        draws = np.random.default_rng(seed)
        state, tally = ShareCusumsState(), empty_tally()
        buckets = PER_MONTH_S // 300
        sizes = draws.poisson(0.5, buckets)  # about 150 mentions a day
        for b in range(buckets):
            n = int(sizes[b])
            if n == 0:
                continue
            counts: dict[str, int] = {}
            for _ in range(n):
                for term in draws.choice(vocabulary, 6, p=usual / usual.sum()):
                    if draws.random() < usual[term] * 60:  # a word's share of mentions
                        key = f"w{term}"
                        counts[key] = counts.get(key, 0) + (2 if draws.random() < 0.1 else 1)
            counts = {k: min(c, n) for k, c in counts.items()}
            start = b * 300
            shares.fold(state, n, counts, FunctionShares(lambda k: float(usual[int(k[1:])]),
                        alternatives), start=start, end=start + 300, h=1e9,
                        crossings=tally)  # fmt: skip
        return tally

    first, second = month(1), month(2)
    h = from_history(first, PER_MONTH_S, 1.0)
    assert h is not None
    union = threshold(vocabulary * len(TERM_SHARES), 1.0, 300)
    reached = np.interp(h, LEVELS, second)  # excursions of the second month reaching h
    assert h < union - 2  # lower than the bound by a mention's worth of evidence or more
    assert reached <= 1.5  # about the budget (1 a month), aimed at half
    assert first[0] > 20  # the history was not empty (not vacuous)
