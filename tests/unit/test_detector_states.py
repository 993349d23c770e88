"""Detector states in two tables: the full state when buckets close, the open part between
(streams/detector_states.py)."""

import asyncio
import json
import math
from datetime import timedelta

import orjson

from alerts.driver import DetectionDriver
from alerts.engine import DetectionEngine
from alerts.observation import observation_to_dict
from alerts.rules import RuleSet
from alerts.state import KeyState
from streams.deadletters import DeadLetters
from streams.detection import DetectStep
from streams.detector_states import SplitStates, merged, open_part
from streams.messages import Msg
from tests.fakes import MemoryOutbox, StepClock
from tests.unit.test_detectors import T0
from tests.unit.test_driver import DIP, crisis, keyed

RULES = """
engine: {bucket: 5m, allowed_lateness: 1m}
rules:
  - {name: dip, kind: sentiment_dip, window: 15m, min_volume: 10, warmup: 2h, resolve_after: 2}
  - {name: terms, kind: emerging_term, window: 1h, min_volume: 8, min_lift: 5,
     alpha: 1.0e-4, warmup: 2h}
"""


class Table(dict):
    """A table whose values go through JSON, as Faust's changelog does; counts what it wrote."""

    def __init__(self):
        super().__init__()
        self.written = 0
        self.records = 0

    def __setitem__(self, key, value):
        data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        self.written += len(data)
        self.records += 1
        super().__setitem__(key, json.loads(data))


def live(observations):
    """One observation per batch, as a live stream delivers a brand's mentions."""
    return [[(o, 0, 0)] for o in observations]


def test_a_live_stream_writes_the_whole_state_only_when_buckets_close():
    engine = DetectionEngine(RuleSet.from_text(RULES))
    observations = sorted(crisis("acme") + crisis("beta"), key=lambda o: o.at)
    plain = Table()
    full, parts = Table(), Table()
    split = SplitStates(full, parts)
    whole, halves = DetectionDriver(engine, plain), DetectionDriver(engine, split)
    alerts, split_alerts = [], []
    for batch in live(observations):
        alerts += whole.feed(batch)
        split_alerts += halves.feed(batch)
    assert alerts and keyed(split_alerts) == keyed(alerts)
    # read back by another worker, the state is the one written whole after every batch
    for brand in ("acme", "beta"):
        again = DetectionDriver(engine, split).state(brand)
        assert again is not None
        assert again.to_dict() == KeyState.from_dict(plain[brand]).to_dict()
    # whole records only when a brand's buckets closed: once per 5-minute bucket here
    closes = len({(o.brand, int(o.at.timestamp()) // 300) for o in observations})
    assert split.writes["full"] == full.records <= closes + 2
    assert split.writes["open"] == parts.records == plain.records - full.records
    assert full.written + parts.written < plain.written / 2


def test_an_open_part_counts_only_after_its_own_full_record_on_the_same_close():
    full = {
        "v": 2,
        "seq": 4,
        "closed_until": 600,
        "offset": 10,
        "series": {"": {"open": [], "closed": [{"start": 300}], "rules": {"r": 1}, "last": 300}},
    }
    newer = open_part(
        {**full, "offset": 12, "series": {"": {"open": [{"s": 600}], "last": 600}}}, 5
    )
    state = merged(full, newer)
    assert state["offset"] == 12 and state["seq"] == 5
    assert state["series"][""] == {
        "open": [{"s": 600}],
        "closed": [{"start": 300}],
        "rules": {"r": 1},
        "last": 600,
    }
    # written before the full record, or on another close: the full record stands alone
    assert merged(full, {**newer, "seq": 3}) is full
    assert merged(full, {**newer, "closed_until": 300}) is full
    assert merged(full, {**newer, "closed_until": 900}) is full  # its full record was lost
    assert merged(full, None) is full
    # a series a mention created since the close (a new language) comes with the open part
    fresh = {**newer, "series": {"": newer["series"][""], "sv": {"open": [{"s": 600}], "last": 1}}}
    assert merged(full, fresh)["series"]["sv"] == {
        "open": [{"s": 600}],
        "closed": [],
        "rules": {},
        "episodes": {},
        "last": 1,
    }


def test_a_record_written_before_the_split_is_read_as_it_was():
    from pathlib import Path

    fixture = Path(__file__).parents[1] / "fixtures" / "detector_state_v1.json"
    record = json.loads(fixture.read_text())["states"]["Acme"]
    full = Table()
    dict.__setitem__(full, "Acme", record)
    split = SplitStates(full, Table())
    assert split.get("Acme") == record
    assert list(split.items()) == [("Acme", record)]
    # and its next write after a mention is an open part on top of it
    state = KeyState.from_dict(split.get("Acme"))
    state.offset += 1
    split["Acme"] = state.to_dict()
    assert split.writes == {"full": 0, "open": 1}
    assert KeyState.from_dict(split.get("Acme")).to_dict() == state.to_dict()


def test_another_worker_goes_on_from_both_tables_after_a_rebalance():
    engine = DetectionEngine(RuleSet.from_text(DIP))
    observations = crisis("acme")
    half = len(observations) // 2
    full, parts = Table(), Table()
    first = SplitStates(full, parts)
    driver = DetectionDriver(engine, first)
    alerts = []
    for batch in live(observations[:half]):
        alerts += driver.feed(batch)
    assert parts["acme"]["seq"] > full["acme"]["seq"]  # the open part is the newer write
    second = SplitStates(full, parts)  # the worker the partition moved to
    assert dict(second.items())["acme"]["offset"] == parts["acme"]["offset"]
    other = DetectionDriver(engine, second)
    other.clocks = dict(driver.clocks)
    for batch in live(observations[half:]):
        alerts += other.feed(batch)
    alerts += other.finish()
    whole = DetectionDriver(engine)
    expected = whole.feed((o, 0, 0) for o in observations) + whole.finish()
    assert keyed(alerts) == keyed(expected)
    # and back: the first worker forgets what it knew and reads the tables again
    first.invalidate()
    driver.invalidate()
    assert driver.state("acme").to_dict() == other.state("acme").to_dict()


def test_the_step_waits_for_the_producer_after_writing_a_full_record():
    flushed = []

    async def flush():
        flushed.append(len(full))

    full, parts = Table(), Table()
    outbox = MemoryOutbox()
    step = DetectStep(
        DetectionEngine(RuleSet.from_text(DIP)),
        SplitStates(full, parts, flush=flush),
        outbox,
        DeadLetters(outbox, StepClock()),
    )
    observations = [o for o in crisis("acme") if o.at < T0 + timedelta(minutes=30)]
    fulls = []
    for o in observations:
        before = full.records
        asyncio.run(step.handle([Msg(value=json.dumps(observation_to_dict(o)).encode())]))
        fulls.append(full.records > before)
    assert any(fulls) and not all(fulls)
    assert len(flushed) == sum(fulls)  # after each batch that wrote one, and only then


SPLIT = """
engine: {bucket: 5m, allowed_lateness: 1m}
rules:
  - {name: dip, kind: sentiment_dip, window: 15m, min_volume: 10, warmup: 2h, resolve_after: 2}
  - {name: dip-by-lang, kind: sentiment_dip, window: 1h, min_volume: 5, warmup: 2h,
     split_by: lang}
  - {name: terms, kind: emerging_term, window: 1h, min_volume: 8, min_lift: 5,
     alpha: 1.0e-4, warmup: 2h}
"""


def languages(observations):
    """The same stream, a Swedish series appearing in its fifth hour (a series made between
    full records)."""
    from dataclasses import replace

    return [
        replace(o, lang="sv") if o.at >= T0 + timedelta(hours=5) and i % 3 == 0 else o
        for i, o in enumerate(observations)
    ]


def same(a, b, path=""):
    """Equal records, floats to 6 significant digits: a bucket closed again is read back from
    its record, whose follower weights are rounded, where it was first closed unrounded."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), path
        for k in a:
            same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, path


def test_between_hourly_full_records_the_closes_are_run_again_on_reading():
    """With the engine, the open part carries the buckets closed since the full record, and a
    read closes them again: the same state as written whole, a full record about once an hour,
    and a stream read back from the tables before every batch raises the offline replay's
    alerts."""
    from alerts.replay import Replayer

    for rules in (RULES, SPLIT, DIP):  # DIP: 15-minute windows, the engine holds 5 closes
        engine = DetectionEngine(RuleSet.from_text(rules))
        observations = sorted(languages(crisis("acme")) + crisis("beta"), key=lambda o: o.at)
        plain, full, parts = Table(), Table(), Table()
        split = SplitStates(full, parts, engine=engine)
        whole, halves = DetectionDriver(engine, plain), DetectionDriver(engine, split)
        alerts, split_alerts = [], []
        for batch in live(observations):
            alerts += whole.feed(batch)
            split_alerts += halves.feed(batch)
            halves.invalidate()  # every batch starts from what the tables hold
            split.invalidate()
        assert alerts and keyed(split_alerts) == keyed(alerts)
        replayer = Replayer(engine)
        assert keyed(replayer.feed(observations) + replayer.finish()) == keyed(alerts)
        for brand in ("acme", "beta"):
            again = DetectionDriver(engine, SplitStates(full, parts, engine=engine)).state(brand)
            assert again is not None
            same(again.to_dict(), KeyState.from_dict(plain[brand]).to_dict())
        closes = len({(o.brand, int(o.at.timestamp()) // 300) for o in observations})
        assert full.records <= closes + 2  # never more than once a close


def wordy(n):
    """One mention every 5 minutes, each with words never seen before: the emerging-term
    vocabulary (the state) grows large, the buckets stay small."""
    from tests.unit.test_detectors import obs

    return [
        obs(
            i,
            T0 + timedelta(minutes=5 * i, seconds=30),
            terms=tuple(f"w{i}x{j}" for j in range(40)),
        )
        for i in range(n)
    ]


def test_a_brand_with_a_large_state_and_few_mentions_writes_it_whole_about_hourly():
    engine = DetectionEngine(RuleSet.from_text(RULES))
    observations = wordy(144)
    plain, full, parts = Table(), Table(), Table()
    split = SplitStates(full, parts, engine=engine)
    whole, halves = DetectionDriver(engine, plain), DetectionDriver(engine, split)
    fulls = []
    for batch in live(observations):
        whole.feed(batch)
        halves.feed(batch)
        fulls.append(full.records)
    assert len(plain["acme"]["series"][""]["rules"]["terms"]["bg"]) > 4000
    # once the state is large: a full record an hour, not one a close (while it is small, the
    # open parts' closed buckets soon cost as much as it does, and it is written more often)
    assert fulls[-1] - fulls[72] <= 72 / 12 + 1
    assert full.written + parts.written < plain.written / 5
    again = DetectionDriver(engine, SplitStates(full, parts, engine=engine)).state("acme")
    same(again.to_dict(), KeyState.from_dict(plain["acme"]).to_dict())


def test_an_open_part_is_not_applied_over_another_full_record():
    engine = DetectionEngine(RuleSet.from_text(RULES))
    full, parts = Table(), Table()
    driver = DetectionDriver(engine, SplitStates(full, parts, engine=engine))
    observations = wordy(144)
    for batch in live(observations[:100]):
        driver.feed(batch)
    part = parts["acme"]
    assert part["from"] == full["acme"]["closed_until"] < part["closed_until"]
    older, written = dict(full["acme"]), full.records
    feed = iter(live(observations[100:]))
    while full.records == written:
        driver.feed(next(feed))
    driver.feed(next(feed))  # and a mention after it: an open part of the newer full record
    assert parts["acme"]["from"] == full["acme"]["closed_until"] > older["closed_until"]
    # over the older full record (the newer one lost): not applied, and the older one stands
    assert merged(older, parts["acme"], engine, "acme") is older
