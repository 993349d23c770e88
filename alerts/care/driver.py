"""The care SLA driver: inbox events in event order, SLA warnings and breaches out.

One class for the Faust step (streams/care.py), the offline report (`earful care report`) and
the tests. It owns what makes the stream and a replay agree:

- one event-time clock per inbox partition: partitions progress at different speeds, and a
  conversation is judged by its own partition's time (a global clock would "breach"
  conversations whose replies simply have not been read yet);
- the due index: conversation -> (partition, next SLA instant), so a tick looks only at what
  is due. It is rebuilt from the conversation store on the first tick, after a rebalance
  (`invalidate`), and every `reindex_s` of wall time as a safety net; the rebuild also restarts
  each partition's clock from its conversations' latest event (clocks are not persisted).

Writes go to the store as they happen; the stream step stages them (streams/messages.py:
`StagedRecords`) and keeps them only once the alerts they record are acknowledged by Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from alerts.care.conversation import CareTracker, Conversation, Fact
from alerts.clock import EventClock
from earful.records import Alert, InboxEvent


class ConversationStore(Protocol):
    """Conversation records by id: a Faust table in the worker, a dict offline."""

    def get(self, key: str) -> dict[str, Any] | None: ...
    def __setitem__(self, key: str, value: dict[str, Any]) -> None: ...
    def items(self) -> Iterable[tuple[str, dict[str, Any]]]: ...


class CareDriver:
    def __init__(
        self,
        tracker: CareTracker,
        conversations: ConversationStore,
        *,
        clock: Callable[[], EventClock] = EventClock,
        monotonic: Callable[[], float] = time.monotonic,
        reindex_s: float = 30.0,
    ):
        self.tracker = tracker
        self.conversations = conversations
        self._new_clock = clock
        self.clocks: dict[int, EventClock] = {}
        self.monotonic = monotonic
        self.reindex_s = reindex_s
        self.due: dict[str, tuple[int, datetime]] = {}
        self._indexed_at: float | None = None

    def clock(self, partition: int) -> EventClock:
        found = self.clocks.get(partition)
        if found is None:
            found = self.clocks[partition] = self._new_clock()
        return found

    def _load(self, conversation_id: str) -> Conversation | None:
        raw = self.conversations.get(conversation_id)
        return Conversation.from_dict(raw) if raw else None

    def apply(
        self, events: Sequence[tuple[InboxEvent, int, float | None]]
    ) -> tuple[list[Alert], list[Fact]]:
        """Apply (event, partition, sentiment score of an inbound message) in event order."""
        alerts: list[Alert] = []
        facts: list[Fact] = []
        touched: dict[str, Conversation] = {}
        for event, partition, score in sorted(events, key=lambda e: e[0].at):
            self.clock(partition).observe(event.at)
            raw = touched.get(event.conversation_id) or self._load(event.conversation_id)
            if raw is not None:
                # a reply after the deadline must not hide the breach it ends: judge the clock
                # as of this event before the event moves the state
                alerts += self.tracker.check(raw, event.at)
            conv, new_facts, resolved = self.tracker.apply(raw, event, negative_score=score)
            for fact in new_facts:
                fact.source = partition
            conv.partition = partition
            touched[conv.id] = conv
            facts += new_facts
            alerts += resolved
        for conv in touched.values():
            now = self.clock(conv.partition).now()
            if now is not None:
                alerts += self.tracker.check(conv, now)
            self.conversations[conv.id] = conv.to_dict()
            self._schedule(conv)
        return alerts, facts

    def _schedule(self, conv: Conversation) -> None:
        """Remember when this conversation next needs looking at (warning or breach)."""
        upcoming = [
            t
            for policy, warn, breach in self.tracker.deadlines(conv)
            for t, done in (
                (warn, policy.name in conv.sla and conv.sla[policy.name].warned),
                (breach, policy.name in conv.sla and conv.sla[policy.name].breached),
            )
            if not done
        ]
        if upcoming:
            self.due[conv.id] = (conv.partition, min(upcoming))
        else:
            self.due.pop(conv.id, None)

    def reindex(self) -> None:
        """Rebuild the due index from the conversations held now, and restart the event clock
        of every partition they are on from its latest event.

        The clocks live in memory. After a crash (or when partitions move here) the events that
        moved a partition's clock are committed and never read again: without this, a deadline
        that came due just before the crash would wait for that partition's next event."""
        self.due.clear()
        latest: dict[int, datetime] = {}
        for _, raw in list(self.conversations.items()):
            if not raw:
                continue
            conv = Conversation.from_dict(raw)
            at = conv.last_event_at
            if at is not None and (conv.partition not in latest or at > latest[conv.partition]):
                latest[conv.partition] = at
            if conv.waiting_since is not None and conv.closed_at is None:
                self._schedule(conv)
        for partition, at in latest.items():
            self.clock(partition).observe(at)
        self._indexed_at = self.monotonic()

    def invalidate(self) -> None:
        """Partitions moved: rebuild the index on the next tick."""
        self._indexed_at = None

    def tick(self) -> list[Alert]:
        """Warnings and breaches whose time has come on their partition's clock."""
        if self._indexed_at is None or self.monotonic() - self._indexed_at > self.reindex_s:
            self.reindex()
        alerts: list[Alert] = []
        for conv_id, (partition, at) in list(self.due.items()):
            clock = self.clocks.get(partition)
            now = clock.now() if clock is not None else None
            if now is None or now < at:
                continue
            conv = self._load(conv_id)
            if conv is None:
                self.due.pop(conv_id, None)
                continue
            found = self.tracker.check(conv, now)
            if found:
                alerts += found
                self.conversations[conv_id] = conv.to_dict()
            self._schedule(conv)
        return alerts

    def finish(self, until: datetime) -> list[Alert]:
        """The end of an offline log: every open clock judged at `until`."""
        alerts: list[Alert] = []
        for conv_id, raw in list(self.conversations.items()):
            if not raw:
                continue
            conv = Conversation.from_dict(raw)
            found = self.tracker.check(conv, until)
            if found:
                alerts += found
                self.conversations[conv_id] = conv.to_dict()
        return alerts


def frozen_clock() -> EventClock:
    """An event clock that does not move between events (offline replays: no wall time)."""
    return EventClock(wall=lambda: 0.0)
