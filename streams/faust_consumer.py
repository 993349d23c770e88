"""Faust's Kafka consumer, made safe for Earful's topics across rebalances.

Found by the scale-out fault test (two workers, one SIGKILLed) with Faust's own dev log and a
probe: after a rebalance Faust seeks each partition to its committed offset, but records fetched
*before* the seek are still in the batch its drain loop is working through. The first of them
lands far ahead of the committed offset, and the drain loop takes the jump for a hole in the log
(which only compacted topics and transaction markers make) and marks the skipped range as
acknowledged ("gap filling"). Seen: committed 191, stale record 215, offsets 192..214 committed
without ever reaching an agent — 9 to 93 mentions of 836 lost, consumer lag 0. When no gap is
filled, the stale record moves the read offset ahead instead, and the re-fetched records behind
it are dropped as already read: the partition stalls.

Earful's topics are never compacted and never written in transactions, so their offsets are
dense: a jump is either a stale record or records the broker deleted before they were read
(retention). This consumer tells them apart:

- a record fetched in an earlier consumer generation (before the last rebalance) is dropped
  before delivery and does not move the read offset: the seek re-reads it in order;
- a jump in a partition that aiokafka just reset after an out-of-range fetch (records deleted
  under us: reported as lost by `streams.lag`) is the broker's hole, and is filled as Faust
  would;
- any other jump is a stale record: dropped, and the partition is fetched again from the offset
  Faust expected, so nothing is acknowledged unread and nothing waits forever;
- and, as a net under all of the above (`heal`): a partition with unread messages whose
  committed offset has not moved for a while, with nothing of it being processed, is fetched
  again from its committed offset. Seen once in CI after the fixes above: one partition stuck
  with lag 66 and nothing in flight. Re-reading costs duplicates (at-least-once), never data;
- the same net for the table recovery after a rebalance (`heal_recovery`): a changelog
  partition it waits for and receives nothing of is fetched again from where it stands;
- and Faust's active partitions reach aiokafka's fetcher as a selection even when a rebalance
  has paused them all (`Selection`): aiokafka reads an empty one as "every partition", and a
  fetch waiting through the rebalance handed over records Faust then dropped.

The fix lives in a subclass installed as the transport's consumer class, so every Faust app in
the process uses it (`install()`, called by `streams.app.create_app`).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import metrics

log = logging.getLogger(__name__)


class ResetPartitions:
    """Partitions aiokafka reset after an out-of-range fetch, until their jump is accounted for.

    Written from aiokafka's fetcher (through `streams.lag.OffsetResetWatch`), read by the drain
    loop: a lock keeps the two threads honest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tps: set[tuple[str, int]] = set()

    def add(self, topic: str, partition: int) -> None:
        with self._lock:
            self._tps.add((topic, partition))

    def take(self, topic: str, partition: int) -> bool:
        with self._lock:
            if (topic, partition) in self._tps:
                self._tps.discard((topic, partition))
                return True
            return False


RESETS = ResetPartitions()

#: How soon a partition whose commit waits on a record nothing holds is read again (`stuck`):
#: the stall seen most in the scale-out fault test (committed 132, records 133-231 all
#: acknowledged, 132 in no stream) waited the whole `heal_after_s` for nothing.
LOST_RECORD_AFTER_S = 5.0


class _ReadOffsets(defaultdict[Any, int | None]):
    """Faust's read offsets, refusing the drain loop's write for a record that must be read
    again (`skip`); a seek's write always applies (`force`)."""

    def __init__(self, skip: Callable[[Any, int], bool]) -> None:
        super().__init__(lambda: None)
        self.skip = skip

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        if offset is not None and self.skip(tp, offset):
            return
        super().__setitem__(tp, offset)

    def force(self, tp: Any, offset: int | None) -> None:
        super().__setitem__(tp, offset)


class SafeConsumer(faust_aiokafka.Consumer):
    """See the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = _ReadOffsets(self._must_reread)
        #: The record the drain loop handed over last, and the last one dropped as stale.
        self._last: Any = None
        self._dropped: Any = None
        self._jumps: dict[Any, tuple[int, int]] = {}
        self._rewinding: dict[Any, int] = {}
        #: Per partition: (committed offset, since when it has not moved).
        self._progress: dict[Any, tuple[int, float]] = {}
        self._told: set[Any] = set()
        self._drops_told: set[Any] = set()
        #: Per partition without a commit: the offset it was last read from (`_new_offset`).
        self._first: dict[Any, int] = {}
        #: (changelog partition, recovery start) -> when `heal_recovery` last fetched it again.
        self._recovery_seeks: dict[tuple[Any, float], float] = {}
        self.callback = self._deliver_fresh(self.callback)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        # The drain loop calls this just before delivering the record at `offset_to`; the
        # decision is taken in `_deliver_fresh`, which sees the record itself.
        self._jumps[tp] = (offset_from, offset_to)

    def _deliver_fresh(
        self, deliver: Callable[[Any], Awaitable[None]]
    ) -> Callable[[Any], Awaitable[None]]:
        async def handle(message: Any) -> None:
            tp, offset = message.tp, message.offset
            jump = self._jumps.pop(tp, None)
            if jump is not None and jump[1] != offset:
                jump = None
            if jump is None:
                self._rewinding.pop(tp, None)
            stale = message.generation_id != self.app.consumer_generation_id
            if jump is not None and not stale:
                if RESETS.take(tp.topic, tp.partition):
                    await super(SafeConsumer, self)._add_gap(tp, *jump)
                else:
                    self._drop(message, jump)
                    await self._rewind(tp, jump[0] - 1)
                    return
            if stale:
                self._drop(message, jump)
                return
            await deliver(message)

        def on_message(message: Any) -> Awaitable[None]:
            # Noted before the coroutine runs: Faust may cancel it (a rebalance starting) and
            # still write the record's offset as read; `_must_reread` then refuses that write.
            self._last = message
            return handle(message)

        return on_message

    def _must_reread(self, tp: Any, offset: int) -> bool:
        """Whether the drain loop's "read up to here" for this record must be ignored: it was
        dropped as stale, or a rebalance came while it was being delivered (the stream skips
        it, the seek reads it again)."""
        last = self._last
        if last is None or last.tp != tp or last.offset != offset:
            return False
        self._last = None
        return last is self._dropped or last.generation_id != self.app.consumer_generation_id

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets — and a partition without one to its first
        offset. aiokafka's `seek_to_committed` leaves such a partition where its fetcher
        stands, and the fetcher may have read it already: records fetched while a rebalance
        held the streams are taken from aiokafka and dropped by Faust (the partition was not
        active yet, or the generation changed under the fetch), for the seek to read again.
        Seen in the scale-out fault test: four partitions taken over from the killed worker,
        none committed by it, the fetch position at their end (125 of 125, 221 of 221), Faust's
        read offset None, nothing processed until the heal net re-read them 30 s later."""
        await super().perform_seek()
        fresh = [
            tp
            for tp in self.assignment()
            if self._committed_offset.get(tp) is None and self.app.topics.acks_enabled_for(tp.topic)
        ]
        if not fresh:
            return
        try:
            starts: dict[Any, int] = dict(await self.earliest_offsets(*fresh))
        except Exception as exc:  # Faust's own seek is done; a failure here must not end the
            # recovery that called it (the heal net re-reads a partition left behind)
            log.warning("could not read where %d uncommitted partitions start: %s", len(fresh), exc)
            return
        for tp in fresh:
            if tp in starts:
                self._first[tp] = starts[tp]
                await self.seek(tp, starts[tp])

    async def seek(self, partition: Any, offset: int) -> None:
        """Faust's seek, whose read-offset write always applies."""
        await self._seek(partition, offset)
        read_offsets = self._read_offset
        assert isinstance(read_offsets, _ReadOffsets)
        read_offsets.force(ensure_TP(partition), offset if offset else None)

    def ack(self, message: Any) -> bool:
        """Acknowledge a processed record — never one from before the last rebalance, nor one
        acknowledged while a rebalance holds the streams: Faust's stream "acks" the records it
        skips for either reason, unprocessed (seen: one mention of 836 committed, never scored).
        The seek reads them again, so a refused ack only means a record is processed twice
        (at-least-once), never that one is lost."""
        if message.generation_id != self.app.consumer_generation_id:
            return False
        if not self.app.flow_control.is_active():
            return False
        return bool(super().ack(message))

    def stuck(self, now: float, after_s: float) -> list[tuple[Any, int | None, int | None]]:
        """Partitions whose committed offset has not moved for `after_s` with nothing of them
        in flight, and which have (or may have: the fetcher has not seen their end yet)
        unread messages: (partition, committed offset or None, end offset or None).

        None as the committed offset: this consumer has none for the partition — taken over
        from a worker that committed nothing of it, or committed at 0 (Faust keeps 0 as None).
        Such a partition is watched like the others and re-read from its beginning."""
        # a record from an earlier generation is never acknowledged (see `ack`): it is not work
        # in flight, whatever still refers to it
        generation = self.app.consumer_generation_id
        in_flight: dict[Any, int] = defaultdict(int)
        first_in_flight: dict[Any, int] = {}
        for m in list(self._unacked_messages):
            # Faust leaves a record in its unacked set when its ack comes after the commit
            # passed it (a record read twice after a seek) or repeats an offset already acked:
            # such an entry lingers until garbage-collected, and is not work in flight
            committed = self._committed_offset.get(m.tp)
            if (
                m.generation_id == generation
                and not m.acked
                and (committed is None or m.offset >= committed)
            ):
                in_flight[m.tp] += 1
                first_in_flight[m.tp] = min(m.offset, first_in_flight.get(m.tp, m.offset))
        out: list[tuple[Any, int | None, int | None]] = []
        for tp in self.assignment():
            if not self.app.topics.acks_enabled_for(tp.topic):
                continue
            committed = self._committed_offset.get(tp)
            try:
                highwater: int | None = self.highwater(tp)
            except Exception:  # not (or no longer) assigned to this consumer
                continue
            caught_up = highwater is not None and highwater <= (committed or 0)
            if caught_up:
                self._progress.pop(tp, None)
                self._told.discard(tp)
                continue
            mark = -1 if committed is None else committed
            seen = self._progress.get(tp)
            # the record the commit waits for is acknowledged by no stream and held by none,
            # while later ones are done: nothing will ever process it but a re-read
            lost = tp not in in_flight and self._ack_hole(tp, committed)
            if seen is None or seen[0] != mark:
                self._progress[tp] = (mark, now)
            elif tp in in_flight and self._ack_hole(tp, committed):
                # later records of it were processed but the commit cannot pass the ones in
                # flight: the stream left them behind (seen in CI: 120 s at one offset while
                # the rest of the partition was done), so they are read again
                if now - seen[1] >= after_s:
                    out.append((tp, committed, highwater))
            elif tp in in_flight:
                if now - seen[1] >= 4 * after_s and tp not in self._told:
                    self._told.add(tp)  # said once per episode: why it is not re-read
                    log.warning(
                        "%s[%d] has made no progress for %.0f s at committed offset %s, but "
                        "%d records of it (from offset %d, end %s) are still being processed",
                        tp.topic,
                        tp.partition,
                        now - seen[1],
                        committed,
                        in_flight[tp],
                        first_in_flight[tp],
                        highwater,
                    )
            elif now - seen[1] >= (min(after_s, LOST_RECORD_AFTER_S) if lost else after_s):
                out.append((tp, committed, highwater))
        return out

    def _new_offset(self, tp: Any) -> int | None:
        """Faust's next commit for `tp` — but never past an unacknowledged record. Faust
        accepts a hole of exactly one record at the committed offset (it compares
        `min(acked) - committed > 1`, though the committed offset is the next record to read),
        so a single record left behind would be committed unread. Here the commit waits, and
        `heal` reads the partition again from there.

        A partition without a commit (or committed at 0, which Faust keeps as None) waits
        for the first offset it was last read from (`_first`): Faust would commit past a
        lost first record there too, and did (one mention of 836 lost in the scale-out fault
        test, the first of its partition)."""
        acked = self._acked.get(tp)
        committed = self._committed_offset.get(tp)
        floor = committed if committed else self._first.get(tp)
        if acked and floor is not None and not self._gap.get(tp) and min(acked) > floor:
            return None
        result: int | None = super()._new_offset(tp)
        return result

    def _ack_hole(self, tp: Any, committed: int | None) -> bool:
        """Records after the committed offset are acknowledged, but not the one the commit
        waits for: the commit cannot move until it is read again."""
        acked: list[int] = self._acked.get(tp) or []
        return bool(acked) and min(acked) > (committed or 0)

    async def heal(self, now: float, after_s: float = 30.0) -> int:
        """Re-read every stuck partition from its committed offset (see the module docstring);
        returns how many were. A partition the fetcher has no end offset for (seen: one left
        unfetched after a seek that met a pending out-of-range reset) is asked of the broker,
        and one without a committed offset is re-read from its first offset."""
        stuck = self.stuck(now, after_s)
        unknown = [tp for tp, _, end in stuck if end is None]
        ends: dict[Any, int] = dict(await self.highwaters(*unknown)) if unknown else {}
        fresh = [tp for tp, committed, _ in stuck if committed is None]
        starts: dict[Any, int] = dict(await self.earliest_offsets(*fresh)) if fresh else {}
        healed = 0
        for tp, committed, known in stuck:
            end = known if known is not None else ends.get(tp)
            start = committed if committed is not None else starts.get(tp)
            mark = -1 if committed is None else committed
            if end is None or start is None or end <= start:
                self._progress[tp] = (mark, now)
                continue
            log.warning(
                "%s[%d] has %d unread messages but made no progress for %.0f s at %s with "
                "nothing in flight (%s); re-reading from offset %d",
                tp.topic,
                tp.partition,
                end - start,
                now - self._progress.get(tp, (mark, now))[1],
                f"committed offset {committed}" if committed is not None else "no commit",
                self._fetch_state(tp),
                start,
            )
            self._progress[tp] = (mark, now)
            self._rewinding.pop(tp, None)
            if committed is None:
                self._first[tp] = start
            await self.seek(tp, start)
            metrics.PARTITIONS_REREAD.labels(topic=tp.topic).inc()
            healed += 1
        return healed

    async def heal_recovery(self, now: float, after_s: float = 30.0) -> int:
        """Fetch again every changelog partition the table recovery waits for and receives
        nothing of: it holds every stream until each active changelog partition is read to its
        end, so one partition the fetcher never delivers stops the worker for good. Seen once
        in CI (the scale-out fault test, under CPU load): the survivor's recovery waited on
        one detector-state changelog partition, "No event received for active tp", for
        minutes. A seek to the offset the recovery last applied (the one it started from, if
        none) is what the recovery did itself when it began; the record at that offset is read
        twice and the recovery ignores it. Returns how many partitions were fetched again.

        The likely cause, read in Faust's and aiokafka's code (not confirmed by a log), is
        closed by `Selection`; this net stays for any other."""
        recovery = getattr(getattr(self.app, "tables", None), "recovery", None)
        if recovery is None or not recovery.in_recovery:
            self._recovery_seeks.clear()
            return 0
        started = recovery._recovery_started_at
        if started is None:
            return 0
        received: dict[Any, float] = recovery._active_events_received_at
        targets: dict[Any, int] = {}
        for tp, left in recovery.active_remaining().items():
            if left <= 0:
                continue
            quiet_since = max(
                received.get(tp, started), self._recovery_seeks.get((tp, started), started)
            )
            if now - quiet_since < after_s:
                continue
            offset = recovery.active_offsets[tp]
            targets[tp] = max(offset, 0)
            log.warning(
                "the table recovery has received nothing of %s[%d] for %.0f s with %d changes "
                "left to read (%s); fetching it again from offset %d",
                tp.topic,
                tp.partition,
                now - quiet_since,
                left,
                self._fetch_state(tp),
                targets[tp],
            )
            self._recovery_seeks[(tp, started)] = now
        if not targets:
            return 0
        await self.seek_wait(targets)
        self.resume_partitions(set(targets))
        for tp in targets:
            metrics.PARTITIONS_REREAD.labels(topic=tp.topic).inc()
        return len(targets)

    async def seek_wait(self, partitions: Any) -> None:
        """Faust's seek-and-wait (the table recovery's), whose read-offset writes always apply:
        the drain loop's guard (`_must_reread`) is for its own writes, not for a seek."""
        await super().seek_wait(partitions)
        read_offsets = self._read_offset
        assert isinstance(read_offsets, _ReadOffsets)
        for tp, offset in partitions.items():
            read_offsets.force(ensure_TP(tp), offset if offset > 0 else None)

    def _fetch_state(self, tp: Any) -> str:
        """What the fetcher holds for `tp`, said when it is re-read: the cause of a stall is
        still unknown (seen locally: a partition taken over from a killed worker, nothing
        dropped or re-read before, nothing in flight), and this is what tells the candidates
        apart — a read offset past the records, a partition left out of the fetch (Faust's
        buffer-full pause), or aiokafka's position past the end."""
        fetched = "fetched"
        position: Any = "unknown"
        try:  # Faust's and aiokafka's own bookkeeping, read as it stands: best effort
            active = self._active_partitions
            if tp in self._paused_partitions:
                fetched = "paused"
            elif tp in self._buffered_partitions:
                fetched = "held back as its buffer was full"
            elif active is not None and tp not in active:
                fetched = "not fetched"
            consumer = self._thread._ensure_consumer()
            position = consumer._subscription.subscription.assignment.state_value(tp).position
        except Exception:  # a diagnosis must never fail the heal
            pass
        acked: list[int] = (getattr(self, "_acked", None) or {}).get(tp) or []
        held = f"{len(acked)} acknowledged from {min(acked)}" if acked else "none acknowledged"
        return (
            f"read offset {self._read_offset.get(tp)}, fetch position {position}, {fetched}, {held}"
        )

    async def _rewind(self, tp: Any, offset: int) -> None:
        """Fetch `tp` again from `offset`, once per target: the fetcher's position can be past
        Faust's own idea of it after a rebalance (seen: position 84, read offset 64), and then
        the skipped records would never come back by themselves. `offset` is Faust's read
        offset, the last record read or the next one after a seek: at most one is read twice."""
        if self._rewinding.get(tp) == offset:
            return
        self._rewinding[tp] = offset
        log.warning("re-reading %s[%d] from offset %d", tp.topic, tp.partition, offset)
        await self.seek(tp, offset)

    def _drop(self, message: Any, jump: tuple[int, int] | None) -> None:
        self._dropped = message
        metrics.STALE_RECORDS.labels(topic=message.tp.topic).inc()
        # said once per partition and seek: a takeover drops whole fetched batches, and one
        # line per record (seen: 270 in half a second) buried everything else in the log
        episode = (message.tp, jump[0] if jump else None, message.generation_id)
        if episode in self._drops_told:
            return
        if len(self._drops_told) > 10_000:
            self._drops_told.clear()
        self._drops_told.add(episode)
        log.info(
            "dropped a record fetched before the last seek (%s[%d] offset %d, expected %s); "
            "it is read again in order (later ones of this fetch are dropped unsaid; the "
            "count is in earful_stale_records_dropped_total)",
            message.tp.topic,
            message.tp.partition,
            message.offset,
            jump[0] if jump else "an earlier one",
        )


def seek_leaving_fetched(fetcher: Any, tp: Any, offset: int) -> None:
    """aiokafka's `Fetcher.seek_to` without its `del fetcher._records[tp]`.

    Faust seeks from the event loop's thread (`AIOKafkaConsumerThread.seek` calls the consumer
    directly), while aiokafka's fetcher lives in the consumer's own thread. Its
    `fetched_records` takes a partition's fetched result, hands its records over, then deletes
    it; a seek deleting it in between made that `del` raise KeyError, which crashed the fetcher
    and stopped the worker (seen once in the takeover fault test: the surviving worker died
    right after its post-rebalance seeks). Left in place, a result fetched before the seek is
    discarded by aiokafka itself (`FetchResult.check_assignment`: its offset is no longer the
    partition's position) and deleted by the fetcher's own thread."""
    fetcher._subscriptions.seek(tp, offset)
    fetcher._notify(fetcher._wait_consume_future)


class Selection:
    """Faust's live set of active partitions as aiokafka's fetcher reads a selection: an empty
    one selects nothing.

    Faust hands its own set to `Fetcher.fetched_records`, which waits for data, then returns
    what it holds for `partitions` — or for every partition when `partitions` is empty. A
    rebalance pauses every partition (the set empties) while such a call waits; woken by a
    fetch, it returned records of partitions Faust had paused, Faust found its flow suspended
    and dropped them, and only the stream partitions are sought back. For a changelog
    partition the table recovery had already sought, its records were past the fetch position
    and never delivered: the recovery waited for them for ever (read in the code, with the CI
    run in which a survivor's recovery did). Here a paused partition's records stay with the
    fetcher until it is resumed or sought."""

    __slots__ = ("live",)

    def __init__(self, live: set[Any]) -> None:
        self.live = live

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self.live

    def __iter__(self) -> Any:
        return iter(list(self.live))


def _fetch_selected(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def fetch_records(
        self: Any, consumer: Any, active_partitions: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if isinstance(active_partitions, set):
            active_partitions = Selection(active_partitions)
        return await original(self, consumer, active_partitions, *args, **kwargs)

    fetch_records.earful_selection = True  # type: ignore[attr-defined]
    return fetch_records


def install() -> None:
    """Make `SafeConsumer` the consumer of Faust's Kafka transport, aiokafka's fetcher seek
    without touching the fetcher's results from another thread, and read Faust's active
    partitions as a selection even when empty (`Selection`) (idempotent)."""
    from aiokafka.consumer.fetcher import Fetcher

    faust_aiokafka.Transport.Consumer = SafeConsumer
    Fetcher.seek_to = seek_leaving_fetched
    thread = faust_aiokafka.AIOKafkaConsumerThread
    if not getattr(thread._fetch_records, "earful_selection", False):
        thread._fetch_records = _fetch_selected(thread._fetch_records)  # type: ignore[method-assign,assignment]
