"""The consumer fix for stale records across a rebalance (streams/faust_consumer.py), driven the
way Faust's drain loop drives it: `_add_gap` on a jump, then the callback, then the read-offset
write."""

import asyncio
from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from intervaltree import IntervalTree

from streams.faust_consumer import RESETS, SafeConsumer, _ReadOffsets

P = TP("t.mentions", 2)


def consumer(generation: int = 5):
    c = object.__new__(SafeConsumer)
    c.app = SimpleNamespace(
        consumer_generation_id=generation, flow_control=SimpleNamespace(is_active=lambda: True)
    )
    c._read_offset = _ReadOffsets(c._must_reread)
    c._last = c._dropped = None
    c._committed_offset = defaultdict(lambda: None)
    c._gap = defaultdict(IntervalTree)
    c._jumps = {}
    c._rewinding = {}
    c._drops_told = set()
    c._first = {}
    c.seeks = []

    async def seek(tp, offset):  # Faust's seek: the fetcher's position and the read offset
        c.seeks.append(offset)
        c._read_offset.force(tp, offset)

    c.seek = seek
    delivered: list[int] = []

    async def deliver(message):
        delivered.append(message.offset)

    c.callback = c._deliver_fresh(deliver)
    return c, delivered


def record(offset: int, generation: int = 5, acked: bool = False):
    return SimpleNamespace(
        tp=P, offset=offset, generation_id=generation, key=b"", value=b"", acked=acked
    )


def drain(c, message):
    """One step of Faust's drain loop for one record."""
    r_offset = c._read_offset[P]
    if r_offset is None or message.offset >= r_offset:
        if message.offset - (r_offset or 0) > 1 and r_offset:
            asyncio.run(c._add_gap(P, r_offset + 1, message.offset))
        asyncio.run(c.callback(message))
        c._read_offset[P] = message.offset
        return True
    return False  # Faust's "DROPPED MESSAGE ROFF"


def test_a_record_fetched_before_the_seek_is_dropped_and_reread_in_order():
    c, delivered = consumer()
    c._committed_offset[P] = 191
    c._read_offset[P] = 191  # Faust's seek to the committed offset
    assert drain(c, record(215))  # prefetched before the seek: a jump, no reset seen
    assert drain(c, record(216))  # the rest of that stale batch
    assert delivered == [] and c._read_offset[P] == 191 and not c._gap[P]
    assert c.seeks == [191]  # fetched again from where Faust expected, once
    for offset in range(191, 217):  # the re-fetch, in order
        drain(c, record(offset))
    assert delivered == list(range(191, 217))  # 215 read again, nothing marked as done unread
    assert c._rewinding == {}


def test_a_stale_batch_is_said_once(caplog):
    c, _ = consumer()
    c._read_offset[P] = 191
    with caplog.at_level("INFO", logger="streams.faust_consumer"):
        for offset in range(215, 240):  # a whole prefetched batch
            drain(c, record(offset))
    said = [r for r in caplog.records if "dropped a record" in r.getMessage()]
    assert len(said) == 1 and "offset 215, expected 192" in said[0].getMessage()


def test_a_record_from_an_earlier_generation_is_dropped_without_moving_the_read_offset():
    c, delivered = consumer(generation=6)
    c._read_offset[P] = 100
    drain(c, record(101, generation=5))
    assert delivered == [] and c._read_offset[P] == 100
    drain(c, record(100, generation=6))
    assert delivered == [100]


def test_a_jump_after_an_out_of_range_reset_is_the_brokers_hole():
    c, delivered = consumer()
    c._committed_offset[P] = 10
    c._read_offset[P] = 10
    RESETS.add(P.topic, P.partition)  # aiokafka: "Fetch offset 10 is out of range"
    drain(c, record(500))  # the log now starts at 500
    assert delivered == [500]
    assert c._gap[P].overlaps(11, 500)  # filled as Faust does: the loss is reported elsewhere
    assert not RESETS.take(P.topic, P.partition)  # accounted for once


def test_a_rebalance_during_delivery_keeps_the_read_offset():
    c, delivered = consumer()
    c._read_offset[P] = 40

    async def deliver_then_rebalance(message):
        delivered.append(message.offset)
        c.app.consumer_generation_id = 6

    c.callback = c._deliver_fresh(deliver_then_rebalance)
    drain(c, record(41))
    assert delivered == [41] and c._read_offset[P] == 40


def test_acks_from_before_the_rebalance_do_not_count():
    c, _ = consumer(generation=6)
    assert c.ack(record(7, generation=5)) is False


def test_acks_while_a_rebalance_holds_the_streams_do_not_count():
    c, _ = consumer(generation=6)
    c.app.flow_control = SimpleNamespace(is_active=lambda: False)
    assert c.ack(record(7, generation=6)) is False


def healer(committed, highwater, in_flight=(), acked=()):
    c, _ = consumer()
    c._committed_offset[P] = committed
    c._acked = defaultdict(list, {P: list(acked)} if acked else {})
    c._unacked_messages = list(in_flight)
    c._progress = {}
    c._told = set()
    c.assignment = lambda: {P}
    c.highwater = lambda tp: highwater
    c.app.topics = SimpleNamespace(acks_enabled_for=lambda topic: True)
    c.broker_end = highwater if highwater is not None else 200

    async def highwaters(*tps):  # asks the broker
        return {tp: c.broker_end for tp in tps}

    c.highwaters = highwaters
    c.broker_start = 0

    async def earliest_offsets(*tps):
        return {tp: c.broker_start for tp in tps}

    c.earliest_offsets = earliest_offsets
    return c


def test_a_partition_stuck_with_nothing_in_flight_is_read_again_from_its_commit():
    c = healer(committed=120, highwater=186)
    assert asyncio.run(c.heal(0.0, after_s=30)) == 0  # first sight: the clock starts
    assert asyncio.run(c.heal(29.0, after_s=30)) == 0
    assert asyncio.run(c.heal(31.0, after_s=30)) == 1
    assert c.seeks == [120] and c._read_offset[P] == 120
    assert asyncio.run(c.heal(40.0, after_s=30)) == 0  # and it gets time to catch up


def test_progress_or_work_in_flight_is_not_a_stall():
    busy = healer(committed=120, highwater=186, in_flight=[record(121)])
    stale = healer(committed=120, highwater=186, in_flight=[record(121, generation=4)])
    asyncio.run(stale.heal(0.0, after_s=30))
    assert asyncio.run(stale.heal(31.0, after_s=30)) == 1  # never acknowledged: not work
    asyncio.run(busy.heal(0.0, after_s=30))
    assert asyncio.run(busy.heal(100.0, after_s=30)) == 0  # an outage holding a batch
    moving = healer(committed=120, highwater=186)
    asyncio.run(moving.heal(0.0, after_s=30))
    moving._committed_offset[P] = 150
    assert asyncio.run(moving.heal(100.0, after_s=30)) == 0
    caught_up = healer(committed=186, highwater=186)
    asyncio.run(caught_up.heal(0.0, after_s=30))
    assert asyncio.run(caught_up.heal(100.0, after_s=30)) == 0


def test_a_delivery_cut_short_by_a_rebalance_is_read_again():
    """Faust may cancel the callback when a rebalance starts and still write the offset."""
    c, delivered = consumer()
    c._read_offset[P] = 40
    pending = c.callback(record(41))  # handed over, never run: the rebalance cancels it
    pending.close()
    c.app.consumer_generation_id = 6
    c._read_offset[P] = 41  # the drain loop's write after the cut-short delivery
    assert delivered == [] and c._read_offset[P] == 40


def test_a_partition_the_fetcher_never_read_is_checked_with_the_broker():
    c = healer(committed=21, highwater=None)  # assigned, never fetched: no end offset known
    asyncio.run(c.heal(0.0, after_s=30))
    assert asyncio.run(c.heal(31.0, after_s=30)) == 1 and c.seeks == [21]
    idle = healer(committed=50, highwater=None)
    idle.broker_end = 50  # nothing unread after all
    asyncio.run(idle.heal(0.0, after_s=30))
    assert asyncio.run(idle.heal(31.0, after_s=30)) == 0 and idle.seeks == []


def test_a_partition_taken_over_without_a_commit_is_watched_and_read_from_its_start():
    """The survivor of a kill may hold a partition the dead worker never committed (or
    committed at 0, which Faust keeps as None): the net must not look away from it."""
    c = healer(committed=None, highwater=109)
    c.broker_start = 3  # retention deleted the first three
    assert asyncio.run(c.heal(0.0, after_s=30)) == 0
    assert asyncio.run(c.heal(31.0, after_s=30)) == 1 and c.seeks == [3]
    never_fetched = healer(committed=None, highwater=None)
    never_fetched.broker_end = 0  # an empty partition: nothing to read
    asyncio.run(never_fetched.heal(0.0, after_s=30))
    assert asyncio.run(never_fetched.heal(31.0, after_s=30)) == 0 and never_fetched.seeks == []
    empty = healer(committed=None, highwater=0)
    asyncio.run(empty.heal(0.0, after_s=30))
    assert asyncio.run(empty.heal(31.0, after_s=30)) == 0 and empty._progress == {}


def test_records_left_behind_in_flight_do_not_hold_a_partition_forever():
    """Seen in CI: the commit stayed at 96 for 120 s with records of the partition "in flight"
    while the stream had processed the rest of it."""
    # later records acknowledged, the one the commit waits for still "in flight": re-read
    hole = healer(committed=96, highwater=209, in_flight=[record(96)], acked=[97, 98, 99])
    asyncio.run(hole.heal(0.0, after_s=30))
    assert asyncio.run(hole.heal(31.0, after_s=30)) == 1 and hole.seeks == [96]
    # a batch genuinely in flight (a search outage): nothing after it acknowledged, so it waits
    busy = healer(committed=96, highwater=209, in_flight=[record(96), record(97)])
    asyncio.run(busy.heal(0.0, after_s=30))
    assert asyncio.run(busy.heal(300.0, after_s=30)) == 0
    # entries Faust leaves in its unacked set are not work: acknowledged already, or behind
    # the commit (a record read twice after a seek)
    lingering = healer(committed=96, highwater=209, in_flight=[record(97, acked=True), record(95)])
    asyncio.run(lingering.heal(0.0, after_s=30))
    assert asyncio.run(lingering.heal(31.0, after_s=30)) == 1


def test_the_commit_never_passes_a_record_left_unacknowledged():
    """Faust commits past a hole of exactly one record at the committed offset."""
    c, _ = consumer()
    c._acked = defaultdict(list)
    c._acked_index = defaultdict(set)
    c._committed_offset[P] = 96
    c._acked[P] = [97, 98]
    c._acked_index[P] = {97, 98}
    assert c._new_offset(P) is None  # 96 was never acknowledged: wait for it
    c._acked[P] = [96, 97, 98]
    c._acked_index[P] = {96, 97, 98}
    assert c._new_offset(P) == 99


def test_the_commit_never_passes_a_lost_first_record_of_an_uncommitted_partition():
    """Seen in the scale-out fault test: the first mention of a partition without a commit
    lost, every later one acknowledged, and Faust committed past it."""
    c, _ = consumer()
    c._acked = defaultdict(list, {P: [1, 2, 3]})
    c._acked_index = defaultdict(set, {P: {1, 2, 3}})
    c._first[P] = 0  # read from its first offset after the rebalance
    assert c._new_offset(P) is None
    c._acked[P] = [0, 1, 2, 3]
    c._acked_index[P] = {0, 1, 2, 3}
    assert c._new_offset(P) == 4
    retained = healer(committed=None, highwater=50, acked=[5, 6])
    retained.broker_start = 4  # retention deleted 0-3; the re-read starts at 4
    asyncio.run(retained.heal(0.0, after_s=30))
    assert asyncio.run(retained.heal(6.0, after_s=30)) == 1 and retained.seeks == [4]
    assert retained._first[P] == 4


def test_a_partition_without_a_commit_is_read_from_its_start_after_a_rebalance(monkeypatch):
    """aiokafka's seek to the committed offsets leaves an uncommitted partition where its
    fetcher stands: after a takeover, at the end of records Faust dropped unread."""
    from faust.transport.drivers import aiokafka as faust_aiokafka

    committed = TP("t.mentions", 1)
    changelog = TP("app-detector-state-changelog", 2)
    c, _ = consumer()
    c._committed_offset[committed] = 40
    c.assignment = lambda: {P, committed, changelog}
    c.app.topics = SimpleNamespace(acks_enabled_for=lambda topic: "changelog" not in topic)

    async def faust_seek(self):  # Faust's own: the committed partitions only
        await self.seek(committed, 40)

    monkeypatch.setattr(faust_aiokafka.Consumer, "perform_seek", faust_seek)
    asked = []

    async def earliest_offsets(*tps):
        asked.extend(tps)
        return {tp: 7 for tp in tps}  # retention deleted the first seven

    c.earliest_offsets = earliest_offsets
    asyncio.run(c.perform_seek())
    assert asked == [P]  # neither the committed partition nor a table's changelog
    assert c.seeks == [40, 7] and c._read_offset[P] == 7

    async def broker_away(*tps):
        raise TimeoutError("no answer")

    c.earliest_offsets = broker_away
    c.seeks.clear()
    asyncio.run(c.perform_seek())  # the recovery that calls it goes on; the net is behind it
    assert c.seeks == [40]


def test_a_commit_waiting_on_a_record_no_stream_holds_is_read_again_soon():
    """Seen in the scale-out fault test: committed 132, 133-231 acknowledged, 132 in no
    stream and never acknowledged; it waited the whole heal interval."""
    lost = healer(committed=132, highwater=232, acked=list(range(133, 232)))
    asyncio.run(lost.heal(0.0, after_s=30))
    assert asyncio.run(lost.heal(4.0, after_s=30)) == 0
    assert asyncio.run(lost.heal(6.0, after_s=30)) == 1 and lost.seeks == [132]
    # the same hole with the record still in a stream is work in flight, not lost
    held = healer(committed=132, highwater=232, in_flight=[record(132)], acked=[133, 134])
    asyncio.run(held.heal(0.0, after_s=30))
    assert asyncio.run(held.heal(6.0, after_s=30)) == 0
    # and with nothing acknowledged after it, the usual interval applies
    quiet = healer(committed=132, highwater=232)
    asyncio.run(quiet.heal(0.0, after_s=30))
    assert asyncio.run(quiet.heal(6.0, after_s=30)) == 0


def test_a_seek_from_the_event_loop_leaves_the_fetchers_results_to_its_own_thread():
    """Faust seeks from the event loop's thread while aiokafka's fetcher, in the consumer's
    thread, may be between reading a partition's fetched result and deleting it: the seek
    must not delete it (that crashed the fetcher with KeyError), and a result fetched before
    the seek must still never be handed over."""
    from aiokafka.consumer.fetcher import Fetcher, FetchResult
    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition

    from streams import faust_consumer

    faust_consumer.install()
    assert Fetcher.seek_to is faust_consumer.seek_leaving_fetched

    class Fetched:
        next_fetch_offset = 40

        def __iter__(self):
            return iter(["record 40", "record 41"])

    async def scenario():
        subscriptions = SubscriptionState()
        tp = TopicPartition("t.mentions", 0)
        subscriptions.assign_from_user([tp])
        subscriptions.seek(tp, 40)
        assignment = subscriptions.subscription.assignment
        fetched = FetchResult(tp, assignment=assignment, partition_records=Fetched(), backoff=0)
        woken = []
        fetcher = SimpleNamespace(
            _subscriptions=subscriptions,
            _records={tp: fetched},
            _wait_consume_future=None,
            _notify=woken.append,
        )
        faust_consumer.seek_leaving_fetched(fetcher, tp, 12)
        assert fetcher._records == {tp: fetched}  # the fetcher's thread deletes it
        assert assignment.state_value(tp).position == 12 and woken == [None]
        assert fetched.getall() == [] and not fetched.has_more()  # fetched before: dropped
        again = FetchResult(tp, assignment=assignment, partition_records=Fetched(), backoff=0)
        subscriptions.seek(tp, 40)
        assert again.getall() == ["record 40", "record 41"]  # at the position: handed over

    asyncio.run(scenario())


CHANGELOG = TP("t-detector-state-changelog", 1)


def recovery_watcher(tables):
    """A consumer of an app with these `tables` (and their recovery), whose seeks and resumes
    are recorded in `sought` and `resumed`."""
    c, _ = consumer()
    c._recovery_seeks = {}
    c.app.tables = tables
    c.sought, c.resumed = [], []

    async def seek_wait(partitions):
        c.sought.append(dict(partitions))

    c.seek_wait = seek_wait
    c.resume_partitions = lambda tps: c.resumed.append(set(tps))
    c._fetch_state = lambda tp: "diagnosis"
    return c


def recovering(offset: int, highwater: int, received_at: float | None = None):
    """A consumer whose table recovery (Faust's `Recovery`, as its fields stand) waits for
    `CHANGELOG` from `offset` to `highwater`, started at t=0."""
    recovery = SimpleNamespace(
        in_recovery=True,
        _recovery_started_at=0.0,
        _active_events_received_at={} if received_at is None else {CHANGELOG: received_at},
        active_offsets={CHANGELOG: offset},
        active_remaining=lambda: {CHANGELOG: highwater - recovery.active_offsets[CHANGELOG]},
    )
    return recovery_watcher(SimpleNamespace(recovery=recovery)), recovery


def test_a_recovery_that_receives_nothing_of_a_changelog_partition_fetches_it_again():
    c, recovery = recovering(offset=41, highwater=96)
    assert asyncio.run(c.heal_recovery(29.0, after_s=30)) == 0
    assert asyncio.run(c.heal_recovery(31.0, after_s=30)) == 1
    # from the offset the recovery last applied (read twice, ignored by it), and resumed
    assert c.sought == [{CHANGELOG: 41}] and c.resumed == [{CHANGELOG}]
    # then it gets the same time again before the next try
    assert asyncio.run(c.heal_recovery(50.0, after_s=30)) == 0
    assert asyncio.run(c.heal_recovery(62.0, after_s=30)) == 1
    recovery.active_offsets[CHANGELOG] = -1  # nothing applied yet: from the start
    assert asyncio.run(c.heal_recovery(93.0, after_s=30)) == 1
    assert c.sought[-1] == {CHANGELOG: 0}


def test_a_recovery_that_is_reading_or_done_is_left_alone():
    reading, _ = recovering(offset=41, highwater=96, received_at=25.0)
    assert asyncio.run(reading.heal_recovery(31.0, after_s=30)) == 0  # an event 6 s ago
    done, _ = recovering(offset=96, highwater=96)
    assert asyncio.run(done.heal_recovery(100.0, after_s=30)) == 0
    over, recovery = recovering(offset=41, highwater=96)
    recovery.in_recovery = False
    assert asyncio.run(over.heal_recovery(100.0, after_s=30)) == 0
    assert reading.sought == done.sought == over.sought == []


def test_a_recovery_seek_always_sets_the_read_offset(monkeypatch):
    import faust.transport.drivers.aiokafka as driver

    c, _ = consumer()
    c._read_offset[P] = 57
    c._last = c._dropped = record(40)  # the drain loop's guard refuses a write of offset 40

    async def faust_seek_wait(self, partitions):  # Faust writes through the guard
        for tp, offset in partitions.items():
            c._read_offset[tp] = offset

    monkeypatch.setattr(driver.Consumer, "seek_wait", faust_seek_wait)
    asyncio.run(SafeConsumer.seek_wait(c, {P: 40}))
    assert c._read_offset[P] == 40


def test_the_recovery_net_reads_fausts_own_recovery():
    """`heal_recovery` reads Faust's `Recovery` (private fields among them): against the
    installed Faust's own object, so an upgrade that renames them fails here, not silently in
    the worker's log."""
    import faust

    app = faust.App("earful-test-recovery", broker="kafka://127.0.0.1:1", store="memory://")
    recovery = app.tables.recovery
    c = recovery_watcher(app.tables)
    assert asyncio.run(c.heal_recovery(100.0, after_s=30)) == 0  # not recovering
    recovery._set_recovery_started()
    started = recovery._recovery_started_at
    recovery.active_highwaters[CHANGELOG] = 96
    recovery.active_offsets[CHANGELOG] = 41
    assert asyncio.run(c.heal_recovery(started + 10, after_s=30)) == 0
    assert asyncio.run(c.heal_recovery(started + 31, after_s=30)) == 1
    assert c.sought == [{CHANGELOG: 41}] and c.resumed == [{CHANGELOG}]
    recovery._set_recovery_ended()
    assert asyncio.run(c.heal_recovery(started + 100, after_s=30)) == 0


def _fetcher_holding(tp, offsets):
    """aiokafka's `Fetcher` state holding one fetched result of `offsets` for `tp` (its own
    `FetchResult`, a stand-in for the assignment and the records)."""
    from aiokafka.consumer.fetcher import FetchResult

    class Records:
        def __init__(self):
            self.left = list(offsets)
            self.next_fetch_offset = offsets[0]

        def __iter__(self):
            while self.left:
                offset = self.left.pop(0)
                self.next_fetch_offset = offset + 1
                yield SimpleNamespace(offset=offset)

    state = SimpleNamespace(paused=False, position=offsets[0], consumed_to=lambda o: None)
    assignment = SimpleNamespace(active=True, state_value=lambda tp: state)
    result = FetchResult(tp, assignment=assignment, partition_records=Records(), backoff=0)
    subscriptions = SimpleNamespace(reassignment_in_progress=False, is_assigned=lambda tp: True)
    return SimpleNamespace(
        _records={tp: result},
        _subscriptions=subscriptions,
        _notify=lambda future: None,
        _wait_consume_future=None,
    )


def test_a_paused_partitions_records_stay_with_the_fetcher_while_every_partition_is_paused():
    """aiokafka reads an empty selection as "every partition"; Faust's active set empties when
    a rebalance pauses everything, and a fetch waiting then returned the paused partitions'
    records, which Faust dropped (streams/faust_consumer.py `Selection`)."""
    from aiokafka.consumer.fetcher import Fetcher

    from streams.faust_consumer import Selection

    live: set = set()
    held = _fetcher_holding(CHANGELOG, [41, 42, 43])
    assert asyncio.run(Fetcher.fetched_records(held, Selection(live))) == {}
    assert CHANGELOG in held._records  # kept for when the partition is resumed (or sought)
    live.add(CHANGELOG)  # resumed: the live set is read at each call
    drained = asyncio.run(Fetcher.fetched_records(held, Selection(live)))
    assert [r.offset for r in drained[CHANGELOG]] == [41, 42, 43]
    # what Faust's own set did, and why: the same empty set selects everything
    bare = _fetcher_holding(CHANGELOG, [41, 42, 43])
    assert CHANGELOG in asyncio.run(Fetcher.fetched_records(bare, set()))


def test_faust_hands_the_fetcher_its_active_partitions_as_a_selection():
    import faust.transport.drivers.aiokafka as driver

    from streams.faust_consumer import Selection, _fetch_selected, install

    install()
    install()  # idempotent: wrapped once
    assert driver.AIOKafkaConsumerThread._fetch_records.earful_selection
    seen = []

    async def original(self, consumer, active_partitions, timeout=None, max_records=None):
        seen.append(active_partitions)
        return {}

    asyncio.run(_fetch_selected(original)(None, None, set(), timeout=1.0))
    asyncio.run(_fetch_selected(original)(None, None, None, timeout=1.0))  # client-only: all
    assert isinstance(seen[0], Selection) and seen[0] and not list(seen[0])
    assert seen[1] is None
