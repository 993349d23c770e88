"""The detection driver: one event-time loop for the Faust step and the offline replay."""

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

from alerts.driver import DetectionDriver
from alerts.engine import DetectionEngine
from alerts.observation import observation_to_dict
from alerts.replay import Replayer
from alerts.rules import RuleSet
from streams.deadletters import DeadLetters
from streams.detection import DetectStep
from streams.messages import Msg
from tests.fakes import MemoryOutbox, StepClock
from tests.unit.test_detectors import T0, obs, steady

DIP = """
engine: {bucket: 5m, allowed_lateness: 1m}
rules: [{name: dip, kind: sentiment_dip, window: 15m, min_volume: 10, warmup: 2h,
         resolve_after: 2}]
"""


def crisis(brand: str, start=T0):
    """Three calm hours, then forty negative minutes, then calm again, for one brand."""
    out = []
    for i, o in enumerate(steady(5, 6, start=start)):
        minute = (o.at - start).total_seconds() / 60
        bad = 180 <= minute < 220 or i % 7 == 0
        out.append(obs(i, o.at, sentiment="negative" if bad else "neutral", brand=brand))
    return out


def keyed(alerts):
    return sorted((a.fired_at, a.fingerprint, a.status, a.severity) for a in alerts)


def test_the_stream_step_and_the_offline_replay_raise_the_same_alerts():
    observations = sorted(crisis("acme") + crisis("beta"), key=lambda o: o.at)
    replayer = Replayer(DetectionEngine(RuleSet.from_text(DIP)))
    offline = replayer.feed(observations) + replayer.finish()

    outbox = MemoryOutbox()
    step = DetectStep(
        DetectionEngine(RuleSet.from_text(DIP)), {}, outbox, DeadLetters(outbox, StepClock())
    )
    streamed = []
    for chunk in range(0, len(observations), 37):  # batches cut anywhere
        batch = [
            Msg(value=json.dumps(observation_to_dict(o)).encode(), topic="by-brand", partition=0)
            for o in observations[chunk : chunk + 37]
        ]
        streamed += asyncio.run(step.handle(batch))
    streamed += step.driver.finish()
    assert offline and {a.brand for a in offline if a.status == "firing"} == {"acme", "beta"}
    assert keyed(streamed) == keyed(offline)


def test_each_lane_keeps_its_own_clock():
    engine = DetectionEngine(RuleSet.from_text(DIP))
    driver = DetectionDriver(engine)
    driver.feed((o, 0, 0) for o in crisis("acme"))
    # hours of event time on lane 1 must not close lane 0's buckets: acme is judged by its own
    before = driver.state("acme")
    assert before is not None
    closed = before.closed_until
    driver.feed((o, 1, 0) for o in crisis("beta", start=T0 + timedelta(hours=12)))
    after = driver.state("acme")
    assert after is not None and after.closed_until == closed
    assert driver.watermark(1) is not None and driver.watermark(0) is not None
    assert driver.watermark(1) > driver.watermark(0)  # type: ignore[operator]


def test_states_persist_per_batch_and_survive_a_rebalance():
    engine = DetectionEngine(RuleSet.from_text(DIP))
    store: dict = {}
    first = DetectionDriver(engine, store)
    observations = crisis("acme")
    half = len(observations) // 2
    alerts = first.feed((o, 3, 0) for o in observations[:half])
    assert set(store) == {"acme"} and store["acme"]["partition"] == 3
    # another worker (or this one after a rebalance) picks the partition up from the store
    second = DetectionDriver(engine, store)
    second.clocks = dict(first.clocks)
    alerts += second.feed((o, 3, 0) for o in observations[half:])
    alerts += second.finish()

    whole = DetectionDriver(engine)
    expected = whole.feed((o, 3, 0) for o in observations) + whole.finish()
    assert keyed(alerts) == keyed(expected)
    first.invalidate()
    assert first.cache == {} and first.members is None


def test_late_observations_are_counted_not_merged():
    engine = DetectionEngine(RuleSet.from_text(DIP))
    driver = DetectionDriver(engine)
    observations = crisis("acme")
    driver.feed((o, 0, 0) for o in observations)
    driver.feed([(observations[0], 0, 0)])  # hours behind the watermark
    assert driver.stats.late == 1
    assert driver.stats.observations == len(observations) + 1


def test_a_lane_waits_for_its_slowest_input_so_a_backlog_is_not_late():
    """Two input partitions feed one lane; while a backlog is read one runs hours ahead."""
    engine = DetectionEngine(RuleSet.from_text(DIP))
    observations = crisis("acme")
    even, odd = observations[0::2], observations[1::2]
    interleaved = [(odd[0], 0, 1)]  # both inputs are known from the start
    interleaved += [(o, 0, 0) for o in even[: len(even) // 2 + 40]]  # source 0 runs ahead...
    interleaved += [(o, 0, 1) for o in odd[1:]]  # ...then source 1 catches up
    interleaved += [(o, 0, 0) for o in even[len(even) // 2 + 40 :]]
    driver = DetectionDriver(engine)
    alerts = driver.feed(interleaved) + driver.finish()
    assert driver.stats.late == 0

    replayed = DetectionDriver(engine)
    expected = replayed.feed((o, 0, 0) for o in observations) + replayed.finish()
    assert keyed(alerts) == keyed(expected)


def test_an_idle_input_stops_holding_its_lane_back():
    engine = DetectionEngine(RuleSet.from_text(DIP))
    now = [0.0]
    driver = DetectionDriver(engine, idle_s=30, monotonic=lambda: now[0])
    observations = crisis("acme")
    driver.feed([(observations[0], 0, 1)])  # source 1 sends once, then nothing
    driver.feed((o, 0, 0) for o in observations[1:100])
    held = driver.watermark(0)
    now[0] = 31.0  # source 1 has been quiet for 31 s of wall time
    driver.tick()
    moved = driver.watermark(0)
    assert held is not None and moved is not None and moved > held
    assert moved == engine.watermark(int(observations[99].at.timestamp()))


class JsonTable(dict):
    """A table whose values go through JSON, as Faust's changelog does."""

    def __setitem__(self, key, value):
        super().__setitem__(key, json.loads(json.dumps(value)))


def test_the_topic_and_term_cusums_raise_the_same_alerts_streamed_or_replayed():
    """The per-key CUSUMs keep lazy clocks in the state: the stream step (its table written
    back per batch) and the offline replay must still agree, alarm and resolution alike."""
    from tests.unit.test_detectors import small_brand_term_stream, small_brand_topic_stream

    rules = """
engine: {bucket: 5m, allowed_lateness: 1m}
rules:
  - {name: topics, kind: trending_topic, window: 1h, min_volume: 10, min_lift: 2.5,
     alpha: 1.0e-5, warmup: 12h}
  - {name: terms, kind: emerging_term, window: 1h, min_volume: 8, min_lift: 5,
     alpha: 1.0e-4, warmup: 12h}
"""
    at = T0 + timedelta(days=2, hours=10)
    terms = [  # the same small brand's new hashtag, as another brand
        replace(o, brand="beta") if o.brand == "acme" else o
        for o in small_brand_term_stream(21, new_at=at)
    ]
    observations = sorted(
        small_brand_topic_stream(11, trend_at=at, hours=3) + terms, key=lambda o: o.at
    )
    replayer = Replayer(DetectionEngine(RuleSet.from_text(rules)))
    offline = replayer.feed(observations) + replayer.finish()
    outbox = MemoryOutbox()
    table = JsonTable()
    step = DetectStep(
        DetectionEngine(RuleSet.from_text(rules)), table, outbox, DeadLetters(outbox, StepClock())
    )
    streamed = []
    for chunk in range(0, len(observations), 53):
        batch = [
            Msg(value=json.dumps(observation_to_dict(o)).encode(), topic="by-brand", partition=0)
            for o in observations[chunk : chunk + 53]
        ]
        streamed += asyncio.run(step.handle(batch))
        step.driver.invalidate()  # as after a rebalance: the next batch reads the table back
    streamed += step.driver.finish()
    assert set(table) == {"acme", "beta", "busy"}
    assert {(a.rule, a.status) for a in offline} >= {("topics", "firing"), ("terms", "firing")}
    assert keyed(streamed) == keyed(offline)


def test_an_observation_read_again_is_counted_once_but_a_recreated_topic_is_not_ignored():
    from datetime import UTC, datetime, timedelta

    from alerts.engine import DetectionEngine
    from alerts.observation import Observation
    from alerts.rules import RuleSet

    rules = RuleSet.from_text(
        "rules: [{name: v, kind: volume_spike, window: 15m, min_volume: 5, warmup: 1h}]"
    )
    driver = DetectionDriver(DetectionEngine(rules), {})
    t0 = datetime(2026, 11, 16, 9, tzinfo=UTC)

    def obs(minute: float) -> Observation:
        return Observation(
            id=f"m{minute}",
            brand="Acme",
            at=t0 + timedelta(minutes=minute),
            sentiment="neutral",
            score=0.0,
        )

    driver.feed([(obs(m), 0, 0) for m in (0, 1, 2)], offsets=[10, 11, 12])
    driver.feed([(obs(m), 0, 0) for m in (1, 2, 3)], offsets=[11, 12, 13])  # 11, 12 again
    assert driver.stats.replayed == 2
    # the topic was recreated (offsets from 0 again) while the state was kept: new data counts
    driver.feed([(obs(m), 0, 0) for m in (4, 5)], offsets=[0, 1])
    assert driver.stats.replayed == 2
    state = driver.state("Acme")
    assert state is not None
    assert sum(b.n for s in state.series.values() for b in s.open.values()) == 6
