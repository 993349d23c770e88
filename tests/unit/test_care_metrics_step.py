"""The care metrics aggregator keeps small records and, restarted at any point, publishes the
same figures as the offline computation over the same facts."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

from alerts.care.aggregator import periodic_snapshots
from alerts.care.conversation import CareTracker
from alerts.care.policies import CarePolicies
from earful.records import InboxRecord
from streams.care_metrics import CareMetricsStep
from streams.deadletters import DeadLetters
from streams.messages import Msg
from tests.fakes import MemoryOutbox, MemoryStore, StepClock
from tooling.care_sample import inbox_stream

POLICIES = CarePolicies.from_text("""
calendar:
  timezone: Europe/London
  hours: {mon: "08:00-20:00", tue: "08:00-20:00", wed: "08:00-20:00", thu: "08:00-20:00",
          fri: "08:00-20:00"}
metrics_every: 1h
metrics_window: 6h
policies:
  - {name: first-reply, metric: first_response, within: 60m, business_hours: true}
""")


def facts_of_a_sample_inbox():
    start = datetime(2026, 11, 16, tzinfo=UTC)
    events = inbox_stream(
        [f"question {i}" for i in range(50)],
        POLICIES.calendar.build(),
        start=start,
        days=2,
        per_day=400,
        seed=11,
    )
    tracker, convs, facts = CareTracker(POLICIES), {}, []
    for raw in sorted(events, key=lambda e: e["at"]):
        event = InboxRecord.model_validate(raw).root
        conv, new, _ = tracker.apply(convs.get(event.conversation_id), event)
        convs[conv.id] = conv
        for fact in new:
            fact.source = sum(map(ord, conv.id)) % 3  # three inbox partitions
            facts.append(fact)
    return facts


def as_messages(facts) -> list[Msg]:
    return [Msg(value=json.dumps(f.to_dict()).encode()) for f in facts]


def assert_as_offline(rows, facts) -> None:
    """The published snapshots are the offline computation's, up to the last one published."""
    until = max(f.at for f in facts)
    offline = periodic_snapshots(facts, timedelta(hours=6), timedelta(hours=1), until)
    key = lambda r: (r["at"], r["scope"], r["key"])  # noqa: E731
    got = {key(r): r for r in rows}
    want = {key(r): r for r in offline if r["at"] <= max(got)[0]}
    assert len(got) > 30 and got == want


def test_restarts_anywhere_publish_what_the_offline_computation_does():
    facts = facts_of_a_sample_inbox()
    assert len(facts) > 2000
    outbox, table = MemoryOutbox(), {}

    async def store():
        return MemoryStore()

    def step():
        return CareMetricsStep(POLICIES, table, store, outbox, DeadLetters(outbox, StepClock()))

    async def run():
        rows, worker = [], step()
        for n, i in enumerate(range(0, len(facts), 97)):
            batch = as_messages(facts[i : i + 97])
            rows += await worker.handle(batch)
            if n % 5 == 4:
                worker = step()  # a restart: everything comes back from the table
        return rows

    rows = asyncio.run(run())
    assert_as_offline(rows, facts)
    until = max(f.at for f in facts)
    # no record near the 1 MiB Kafka limit; old buckets are dropped
    assert max(len(json.dumps(v)) for v in table.values()) < 100_000
    oldest = min(k for k in table if k.startswith("f|"))
    assert datetime.fromisoformat(oldest[2:]) >= until - timedelta(hours=14)


def test_snapshots_kafka_did_not_acknowledge_are_made_again():
    """A batch whose snapshots were not acknowledged leaves the state as it was; its redelivery
    publishes them (same ids), so a crash between the two cannot skip a period for good."""
    facts = facts_of_a_sample_inbox()
    table: dict = {}
    outbox = MemoryOutbox()

    async def store():
        return MemoryStore()

    worker = CareMetricsStep(POLICIES, table, store, outbox, DeadLetters(outbox, StepClock()))

    async def run():
        rows, failed = [], 0
        for i in range(0, len(facts), 97):
            batch = as_messages(facts[i : i + 97])
            before = json.dumps(table, sort_keys=True)
            outbox.fail_flushes = 1 if failed < 3 else 0
            try:
                rows += await worker.handle(batch)
                outbox.fail_flushes = 0
            except ConnectionError:
                failed += 1
                assert json.dumps(table, sort_keys=True) == before
                rows += await worker.handle(batch)  # redelivered
        return rows, failed

    rows, failed = asyncio.run(run())
    assert failed == 3
    assert_as_offline(rows, facts)


def test_facts_sent_twice_are_counted_once():
    """The care step sends its facts before it keeps its state; a crash in between sends them
    again after the restart."""
    facts = facts_of_a_sample_inbox()
    outbox, table = MemoryOutbox(), {}

    async def store():
        return MemoryStore()

    async def run():
        rows = []
        worker = CareMetricsStep(POLICIES, table, store, outbox, DeadLetters(outbox, StepClock()))
        for i in range(0, len(facts), 97):
            batch = as_messages(facts[i : i + 97])
            rows += await worker.handle(batch[: len(batch) // 2])
            rows += await worker.handle(batch)  # the first half again
        return rows

    rows = asyncio.run(run())
    assert_as_offline(rows, facts)
