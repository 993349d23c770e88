"""The detection engine on event-time timelines.

Timelines are drawn bucket by bucket (5-minute buckets):
    n = mentions in the bucket, x = negatives among them.
"""

import json
from datetime import UTC, datetime, timedelta

from alerts.engine import DetectionEngine, KeyState
from alerts.observation import Observation
from alerts.rules import RuleSet

T0 = datetime(2026, 11, 16, tzinfo=UTC)
RULES = RuleSet.from_text("""
engine: {bucket: 5m, allowed_lateness: 2m}
rules:
  - name: dip
    kind: sentiment_dip
    window: 15m
    min_volume: 10
    min_delta: 0.15
    alpha: 1.0e-4
    warmup: 2h
    resolve_after: 2
""")


def obs(i: int, at: datetime, negative: bool, brand: str = "acme") -> Observation:
    return Observation(
        id=f"m{i}",
        brand=brand,
        at=at,
        sentiment="negative" if negative else "neutral",
        score=-0.8 if negative else 0.0,
        followers=i % 50,
        text=f"post {i}",
        terms=("late",) if negative else ("ok",),
    )


def stream(buckets: list[tuple[int, int]], start: datetime = T0, brand: str = "acme"):
    """[(n, negatives)] per 5-minute bucket -> observations spread inside each bucket."""
    out, i = [], 0
    for b, (n, neg) in enumerate(buckets):
        for j in range(n):
            at = start + timedelta(minutes=5 * b, seconds=int(j * 290 / max(n, 1)))
            out.append(obs(i, at, j < neg, brand))
            i += 1
    return out


def run(engine, state, observations, brand="acme"):
    alerts = []
    for o in observations:
        engine.observe(state, o)
        alerts += engine.advance(state, brand, engine.watermark(state.max_event))
    return alerts


def test_quiet_baseline_then_dip_fires_escalates_then_resolves():
    engine = DetectionEngine(RULES)
    state = KeyState()
    baseline = [(20, 4)] * 36  # 3 h at 20% negative
    dip = [(20, 14)] * 4  # 20 min at 70% negative
    after = [(20, 4)] * 12 + [(1, 0)]  # back to normal; the last bucket advances time
    alerts = run(engine, state, stream(baseline + dip + after))
    # The 15-minute window fills with dip buckets: 37% negative (warning), then 70% (critical,
    # re-notified as an escalation of the same episode), then recovery.
    assert [(a.status, a.severity) for a in alerts] == [
        ("firing", "warning"),
        ("firing", "critical"),
        ("resolved", "critical"),
    ]
    fired, escalated, resolved = alerts
    assert escalated.fingerprint == fired.fingerprint and escalated.started_at == fired.started_at
    dip_start = T0 + timedelta(minutes=5 * 36)
    assert fired.fired_at - dip_start <= timedelta(minutes=10)
    assert fired.evidence.observed > 0.5 and abs(fired.evidence.expected - 0.2) < 0.02
    assert fired.evidence.top_terms[0][0] == "late"
    assert fired.evidence.sentiment_mix["negative"] >= 14
    assert 'brands:"acme"' in fired.evidence.search_query
    assert resolved.fingerprint == fired.fingerprint and resolved.started_at == fired.started_at
    assert resolved.fired_at > fired.fired_at


def test_no_alert_during_warm_up():
    engine = DetectionEngine(RULES)
    state = KeyState()
    alerts = run(engine, state, stream([(20, 4)] * 6 + [(20, 18)] * 6 + [(1, 0)]))
    assert alerts == []


def test_no_alert_below_minimum_volume():
    engine = DetectionEngine(RULES)
    state = KeyState()
    alerts = run(engine, state, stream([(20, 4)] * 36 + [(2, 2)] * 3 + [(1, 0)]))
    assert alerts == []


def test_small_significant_rise_below_min_delta_does_not_fire():
    engine = DetectionEngine(RULES)
    state = KeyState()
    # 20% -> 30% at high volume is "significant" but under the 15-point minimum effect
    alerts = run(engine, state, stream([(200, 40)] * 36 + [(200, 60)] * 4 + [(1, 0)]))
    assert alerts == []


def test_late_observations_are_counted_not_merged():
    engine = DetectionEngine(RULES)
    state = KeyState()
    run(engine, state, stream([(5, 0)] * 3))
    late = obs(999, T0, negative=True)  # 15 minutes behind the watermark
    assert engine.observe(state, late) is False
    assert state.late == 1


def test_state_round_trips_through_json_mid_stream():
    engine = DetectionEngine(RULES)
    observations = stream([(20, 4)] * 36 + [(20, 14)] * 4 + [(20, 4)] * 12 + [(1, 0)])
    straight = run(engine, KeyState(), observations)
    state, resumed = KeyState(), []
    for k, o in enumerate(observations):
        if k % 97 == 0:  # serialize as the Faust table would, then continue
            state = KeyState.from_dict(json.loads(json.dumps(state.to_dict())))
        engine.observe(state, o)
        resumed += engine.advance(state, "acme", engine.watermark(state.max_event))
    assert [a.model_dump() for a in resumed] == [a.model_dump() for a in straight]


def test_gap_buckets_are_neither_judged_nor_learned():
    engine = DetectionEngine(RULES)
    state = KeyState()
    run(engine, state, stream([(20, 4)] * 36))
    engine.advance(state, "acme", int((T0 + timedelta(hours=3)).timestamp()))  # close the data
    before = json.dumps(state.to_dict()["series"][""]["rules"], sort_keys=True)
    history = state.history_s
    gap_end = int((T0 + timedelta(hours=6)).timestamp())
    engine.advance(state, "acme", gap_end, is_gap=lambda _t: True)
    assert json.dumps(state.to_dict()["series"][""]["rules"], sort_keys=True) == before
    assert state.history_s == history


def test_rules_apply_to_matching_brands_only():
    rules = RuleSet.from_text("""
rules:
  - {name: only-sky, kind: sentiment_dip, brands: ["Sky*"], window: 15m, min_volume: 10, warmup: 1h}
""")
    engine = DetectionEngine(rules)
    state = KeyState()
    alerts = run(
        engine,
        state,
        stream([(20, 4)] * 24 + [(20, 18)] * 4 + [(1, 0)], brand="Acme"),
        brand="Acme",
    )
    assert alerts == []
