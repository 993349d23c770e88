"""sentiment_dip's sequential test: a dip's evidence added up bucket by bucket (CUSUM)."""

import random
from datetime import datetime, timedelta

from alerts.engine import make_detector
from alerts.rules import RuleSet
from tests.unit.test_detectors import T0, obs, replay
from tests.unit.test_volume_sequential import feed, firing


def mood_stream(seed, per_hour, *, days=4, dip_at=None, hours=4.0, usual=0.25, during=0.6):
    """A brand at a steady `per_hour`, `usual` of it negative, `during` from `dip_at`."""
    rng = random.Random(seed)
    out, t, i = [], T0, 0
    while t < T0 + timedelta(days=days):
        t += timedelta(seconds=rng.expovariate(per_hour / 3600))
        dip = dip_at is not None and dip_at <= t < dip_at + timedelta(hours=hours)
        negative = rng.random() < (during if dip else usual)
        out.append(obs(i, t, sentiment="negative" if negative else "neutral"))
        i += 1
    return out


def dip_rule(false_alarms_per_month=None):
    extra = (
        ""
        if false_alarms_per_month is None
        else f", false_alarms_per_month: {false_alarms_per_month}"
    )
    return f"""
rules:
  - {{name: dip, kind: sentiment_dip, window: 1h, min_volume: 15, min_delta: 0.18,
     alpha: 1.0e-4, warmup: 12h, brands: [acme]{extra}}}
"""


def test_a_small_brands_dip_is_caught_by_accumulated_evidence():
    """Twelve mentions an hour, 25% -> 75% negative for four hours: the hour-long window at
    alpha 1e-4 catches half of these dips; with the CUSUM beside it the rule catches each one
    once, and, where the CUSUM raised it, says when the dip began. (At 20 an hour and 60% the
    windowed test is as fast: this threshold, Lorden's bound over 3 rises, is conservative.)"""
    dip_at = T0 + timedelta(days=2, hours=10)
    caught = {"sequential": 0, "windowed": 0}
    for seed in (1, 2, 3, 4):
        stream = mood_stream(seed, 12, dip_at=dip_at, during=0.75) + feed()
        alerts = replay(dip_rule(1), stream)
        raised = firing(alerts)
        assert len(raised) == 1
        assert timedelta(0) < raised[0].fired_at - dip_at <= timedelta(hours=4)
        if raised[0].evidence.statistic == "cusum_llr":
            started = datetime.fromisoformat(raised[0].labels["change_started"])
            assert abs(started - dip_at) <= timedelta(minutes=30)
        assert len([a for a in alerts if a.status == "resolved"]) == 1
        caught["sequential"] += 1
        caught["windowed"] += bool(firing(replay(dip_rule(), stream)))
    assert caught == {"sequential": 4, "windowed": 2}


def test_dip_cusum_false_alarms_stay_within_the_target():
    """Two weeks at a steady negative share and a loose target of 30 a month."""
    stream = mood_stream(9, 20, days=14) + feed(14)
    assert len(firing(replay(dip_rule(30), stream))) <= 30 * 14 / 30


def test_rules_check_says_what_the_dip_target_means():
    text = make_detector(RuleSet.from_text(dip_rule(1)).rules[0], 300).explain()
    assert "negative-share CUSUM" in text and "3 rises" in text
    assert make_detector(RuleSet.from_text(dip_rule()).rules[0], 300).explain() == ""
