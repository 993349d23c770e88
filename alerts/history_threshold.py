"""A CUSUM threshold read from a brand's own history: how often its statistics reached each
level, and the level that history says is reached half `false_alarms_per_month` times a month.

The new-term CUSUMs (alerts/detectors/emerging_term.py) run one per term of a brand's
vocabulary, and their threshold by the union bound, h = ln(terms x shares x ARL0), is what
one false alarm a month costs if every term could alarm at every bucket. Most terms of a
small brand appear once a week; measured on 12 scenario sets (10130-10141, 14 days each, the
incident terms left out), the excursions of the term CUSUMs of a 150-a-day brand reached 12
about 5 times a month, 13 about twice and 14 once, against a union-bound h of 18.0: four
nats, which at that size is one more mention of a new hashtag (about half an hour) before
the alarm. A 600-a-day brand: once a month at 16 (h 18.7); a 2,000-a-day brand: 1.4 times a
month at its h of 19.0 already (bursts of related words during incidents).

So the detector tallies, per brand, each time a term's statistic climbs across a level (8 to
30 nats), decayed with a month's half-life, and the time it has watched (after the rule's
warm-up). The threshold is the level where that tally, extrapolated along its own tail, falls
to half the budget (`AIM`: the extrapolation errs, most on the busiest brands): from the
highest level crossed at least `MIN_CROSSINGS` times, down the tail at the slope the tally
shows between there and the highest level crossed `SLOPE_CROSSINGS` times (clamped to
e^-0.4 .. e^-0.8 per nat; `UNMEASURED_SLOPE` until the tally shows one). A climb that dips
and climbs again counts twice (conservative: a higher h). The result is never above the union
bound (the rule is never slower than before) and never below what one known term alone would
need. Until the tally has `MIN_HISTORY_S` of watching and enough crossings, the union bound
holds. On those 12 sets it took the 150-a-day brand's h from about 18 to 13.5-15 after five
days, the 600-a-day brand's from 18.7-18.9 to 14.4-15.4.

The trending-topic CUSUMs use the same tally the other way round (`measured_level`): their
threshold is simulated under a binomial null, and a brand whose topic statistics the tally
shows crossing it more often than the budget (topics burstier than that null) gets the level
its own history does not cross that often.
"""

from __future__ import annotations

import bisect
import math

#: The levels (nats) whose up-crossings are tallied.
LEVELS: tuple[float, ...] = tuple(float(x) for x in range(8, 31))
#: The tally forgets with this half-life: a brand's vocabulary and its rhythm change.
HALF_LIFE_S = 30 * 86_400
#: Watching needed before the history is trusted (the rule's warm-up comes first).
MIN_HISTORY_S = 2 * 86_400
#: Crossings a level needs to be extrapolated from, and to measure the tail's slope from.
MIN_CROSSINGS = 5.0
SLOPE_CROSSINGS = 20.0
STEEPEST, FLATTEST = 0.8, 0.4
#: The slope where the tally cannot show one yet (every crossing at one level): the middle of
#: those measured (0.47 on a 2,000-a-day brand's upper tail to 0.8).
UNMEASURED_SLOPE = 0.6
#: The share of the budget aimed at: the tail beyond the tally is extrapolated, and on the
#: scenario sets the rate found at the level aimed at was 0.7 to 2.4 times the target (the
#: busiest brands' tails are the flattest), 0.4 to 1.7 times aiming at half.
AIM = 0.5
PER_MONTH_S = 2_592_000


def empty_tally() -> list[float]:
    return [0.0] * len(LEVELS)


def count_crossings(tally: list[float], before: float, after: float) -> None:
    """One statistic went from `before` to `after`: a crossing at each level in between."""
    if after <= before or after < LEVELS[0]:
        return
    for i, level in enumerate(LEVELS):
        if level > after:
            break
        if level > before:
            tally[i] += 1.0


def decay(tally: list[float], watched_s: float, seconds: int) -> float:
    """Age the tally by `seconds` of watching; returns the decayed time watched."""
    factor: float = 0.5 ** (seconds / HALF_LIFE_S)
    for i in range(len(tally)):
        count = tally[i]
        if count != 0.0:  # a level never crossed stays 0.0 (0.0 x factor): no new float
            tally[i] = count * factor
    return watched_s * factor + seconds


def watch(tally: list[float], watched_s: float, seconds: int) -> tuple[list[float], float]:
    """One bucket of watching: the tally aged by `seconds`, and the time watched. A state from
    before the tally was kept (or kept for other levels) starts a fresh one."""
    if len(tally) != len(LEVELS):
        tally, watched_s = empty_tally(), 0.0
    return tally, decay(tally, watched_s, seconds)


def from_history(
    tally: list[float], watched_s: float, false_alarms_per_month: float
) -> float | None:
    """The level the tally's tail crosses `AIM` x `false_alarms_per_month` times a month, or
    None where the history is too short or too thin to say."""
    if watched_s < MIN_HISTORY_S or len(tally) != len(LEVELS):
        return None
    enough = [i for i, n in enumerate(tally) if n >= MIN_CROSSINGS]
    if not enough:
        return None
    top = enough[-1]
    months = watched_s / PER_MONTH_S
    rate = tally[top] / months
    below = [i for i in range(top) if tally[i] >= SLOPE_CROSSINGS]
    low = below[-1] if below else 0
    slope = UNMEASURED_SLOPE
    if low < top and tally[low] > tally[top]:
        slope = math.log(tally[low] / tally[top]) / (LEVELS[top] - LEVELS[low])
    slope = min(max(slope, FLATTEST), STEEPEST)
    target = max(false_alarms_per_month * AIM, 1e-9)
    return LEVELS[top] + max(0.0, math.log(rate / target)) / slope


def measured_level(
    tally: list[float], watched_s: float, false_alarms_per_month: float, floor: float
) -> float:
    """`floor` (a threshold simulated under a null), or above it the lowest level the tally
    does not show crossed more than `false_alarms_per_month` times a month; a level counts as
    crossed too often only with `MIN_CROSSINGS` behind it (one incident's climb never moves
    h). Measured, not extrapolated: the tally at the level at or just below `floor` first."""
    if watched_s < MIN_HISTORY_S or len(tally) != len(LEVELS):
        return floor
    months = watched_s / PER_MONTH_S
    start = i = max(0, bisect.bisect_right(LEVELS, floor) - 1)
    while (
        i < len(LEVELS) and tally[i] >= MIN_CROSSINGS and tally[i] / months > false_alarms_per_month
    ):
        i += 1
    if i == start:
        return floor
    return max(floor, LEVELS[min(i, len(LEVELS) - 1)])
