"""CareStep ticks: only conversations whose SLA instant has come are looked at, and the
index of due instants survives a restart and a rebalance (rebuilt from the table)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from alerts.care.conversation import CareTracker
from alerts.clock import EventClock
from earful.codec import encode
from earful.records import Alert
from models.analyzer import TextAnalyzer
from streams.care import CareStep
from streams.deadletters import DeadLetters
from streams.messages import Msg
from tests.fakes import KeywordScorer, MemoryOutbox, StepClock
from tests.unit.test_care import POLICIES, msg, reply, utc


class CountingTable(dict):
    """A Faust table stand-in that counts reads, to show ticks do not scan everything."""

    def __init__(self):
        super().__init__()
        self.reads = 0
        self.scans = 0

    def items(self):
        self.scans += 1
        return super().items()

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


class Wall:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def make_step(table, wall):
    outbox = MemoryOutbox()
    analyzer = TextAnalyzer(KeywordScorer())
    return CareStep(
        tracker=CareTracker(POLICIES),
        conversations=table,
        analyzer=lambda: analyzer,
        executor=ThreadPoolExecutor(1),
        outbox=outbox,
        deadletters=DeadLetters(outbox, StepClock()),
        clock=EventClock(wall),
    )


def batch(*events):
    return [Msg(value=encode(e), partition=0) for e in events]


def kinds(alerts: list[Alert]) -> list[tuple[str, str, str]]:
    return sorted((a.term or a.labels["conversation"], a.kind, a.status) for a in alerts)


def test_ticks_look_only_at_due_conversations_and_fire_each_once():
    table, wall = CountingTable(), Wall()
    step = make_step(table, wall)
    t0 = utc(2026, 11, 16, 9)  # Monday 10:00 local
    # one waiting conversation and 50 answered ones
    events = [msg("late", t0)]
    for i in range(50):
        events += [msg(f"ok{i}", t0), reply(f"ok{i}", t0 + timedelta(minutes=1))]
    asyncio.run(step.handle(batch(*events)))
    assert list(step.due) == ["late"]

    assert asyncio.run(step.tick()) == []  # nothing due yet; this first tick builds the index
    table.reads = table.scans = 0

    wall.t += 48 * 60  # event time moves with the wall: 80% of 60 business minutes
    assert kinds(asyncio.run(step.tick())) == [("late", "sla_warning", "firing")]
    wall.t += 12 * 60
    assert kinds(asyncio.run(step.tick())) == [("late", "sla_breach", "firing")]
    assert asyncio.run(step.tick()) == [] and "late" not in step.due  # once each
    # later ticks read only the due conversation, never the other 50
    assert table.scans == 0 and table.reads == 2


def test_a_restarted_or_rebalanced_worker_rebuilds_the_index_from_its_table():
    table, wall = CountingTable(), Wall()
    t0 = utc(2026, 11, 16, 9)
    first = make_step(table, wall)
    asyncio.run(first.handle(batch(msg("c1", t0))))

    # a new worker gets the table (changelog) but no index; its clock learns time from events
    second = make_step(table, wall)
    asyncio.run(second.handle(batch(msg("c2", t0 + timedelta(minutes=50)))))
    second.due.clear()
    second.invalidate()  # what a rebalance does
    found = asyncio.run(second.tick())
    assert ("c1", "sla_warning", "firing") in kinds(found)


def firing_flags(table, conv):
    episode = table[conv]["sla"]["first-reply"]
    return episode["warned"], episode["breached"]


def test_a_conversation_records_its_alert_only_once_kafka_acknowledged_it():
    table, wall = CountingTable(), Wall()
    step = make_step(table, wall)
    t0 = utc(2026, 11, 16, 9)
    asyncio.run(step.handle(batch(msg("late", t0))))
    asyncio.run(step.tick())
    step.outbox = MemoryOutbox(fail_flushes=1)  # the broker loses the warning
    wall.t += 48 * 60
    try:
        asyncio.run(step.tick())
    except ConnectionError:
        pass
    else:
        raise AssertionError("the failed acknowledgment should reach the caller")
    # kept state does not say "warned" for a warning Kafka never took ...
    assert firing_flags(table, "late") == (False, False)
    # ... so the next tick raises it again, with the same id
    again = asyncio.run(step.tick())
    assert kinds(again) == [("late", "sla_warning", "firing")]
    assert firing_flags(table, "late") == (True, False)
    sent = [a for _, a, _ in step.outbox.sent["alerts"]]
    assert len(sent) == 2 and sent[0] == sent[1]


def test_a_restarted_worker_restarts_each_partition_clock_from_its_conversations():
    """The events that moved a partition's clock past a deadline were committed before a crash:
    the restarted worker never reads them again, yet the deadline must still be judged."""
    table, wall = CountingTable(), Wall()
    t0 = utc(2026, 11, 16, 9)
    first = make_step(table, wall)
    # c2's message moves partition 0's clock 50 minutes on: c1's warning (48 min) is due, but
    # the worker dies before its next tick
    asyncio.run(first.handle(batch(msg("c1", t0))))
    asyncio.run(first.handle(batch(msg("c2", t0 + timedelta(minutes=50)))))

    second = make_step(table, wall)  # a fresh process: no clocks, nothing new on the inbox
    assert kinds(asyncio.run(second.tick())) == [("c1", "sla_warning", "firing")]
