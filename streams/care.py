"""Agent steps for customer care: conversations and SLA clocks, then metrics.

`inbox` is keyed by conversation id, so one conversation is always on one worker; its state is
a table entry. Inbound messages are scored (negative ones become urgent) in the model thread.
Facts for metrics go to `care.facts` (one partition), where a single aggregator keeps the
sliding windows and publishes snapshots on `care.metrics` and to the search index.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import datetime

from alerts.care.conversation import CareTracker, Conversation, Fact
from earful.codec import InvalidMessage, decode_record, encode
from earful.records import Alert, InboxRecord, MessageReceived
from models.analyzer import TextAnalyzer
from streams import metrics as prom
from streams.clock import EventClock
from streams.deadletters import DeadLetters
from streams.messages import Msg, Outbox, Records

log = logging.getLogger(__name__)

REINDEX_S = 30.0  # full rescan of held conversations, in case an index update was missed


class CareStep:
    def __init__(
        self,
        tracker: CareTracker,
        conversations: Records,
        analyzer: Callable[[], TextAnalyzer],
        executor: Executor,
        outbox: Outbox,
        deadletters: DeadLetters,
        clock: EventClock | None = None,
    ):
        self.tracker = tracker
        self.conversations = conversations
        self._analyzer = analyzer
        self.executor = executor
        self.outbox = outbox
        self.deadletters = deadletters
        #: One event-time clock per inbox partition: partitions progress at different speeds,
        #: and a conversation is judged by its own partition's time (a global clock would
        #: "breach" conversations whose replies simply have not been read yet).
        self.clocks: dict[int, EventClock] = {}
        self._shared_clock = clock  # tests pass one clock for every partition
        #: conversation -> (partition, next SLA instant): ticks look only at what is due.
        #: Rebuilt from the table on the first tick and after a rebalance (partitions moved
        #: here with their conversations), and every REINDEX_S as a safety net; kept up to
        #: date by handle() in between.
        self.due: dict[str, tuple[int, datetime]] = {}
        self._indexed_at: float | None = None

    def clock(self, partition: int) -> EventClock:
        found = self.clocks.get(partition)
        if found is None:
            found = self.clocks[partition] = self._shared_clock or EventClock()
        return found

    async def _scores(self, messages: list[MessageReceived]) -> list[float]:
        if not messages:
            return []

        def run() -> list[float]:
            analyzer = self._analyzer()
            results = analyzer.analyze([m.text for m in messages], [m.lang for m in messages])
            return [r.sentiment.score for r in results]

        scores: list[float] = await asyncio.get_running_loop().run_in_executor(self.executor, run)
        return scores

    async def handle(self, batch: Sequence[Msg]) -> list[Alert]:
        events = []
        partitions: dict[int, int] = {}
        for msg in batch:
            try:
                event = decode_record(msg.value or b"", InboxRecord).root
                events.append(event)
                partitions[id(event)] = msg.partition if msg.partition is not None else -1
            except InvalidMessage as exc:
                prom.DEADLETTERS.labels(stage="care", error=exc.error_type).inc()
                await self.deadletters.send(msg, exc)
        inbound = [e for e in events if isinstance(e, MessageReceived)]
        scores = dict(zip([id(e) for e in inbound], await self._scores(inbound), strict=True))
        alerts: list[Alert] = []
        facts: list[Fact] = []
        touched: dict[str, Conversation] = {}
        for event in sorted(events, key=lambda e: e.at):
            partition = partitions.get(id(event), -1)
            self.clock(partition).observe(event.at)
            raw = touched.get(event.conversation_id) or self._load(event.conversation_id)
            if raw is not None:
                # a reply after the deadline must not hide the breach it ends: judge the clock
                # as of this event before the event moves the state
                alerts += self.tracker.check(raw, event.at)
            conv, new_facts, resolved = self.tracker.apply(
                raw, event, negative_score=scores.get(id(event))
            )
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
        await self._publish(alerts, facts)
        return alerts

    def _load(self, conversation_id: str) -> Conversation | None:
        raw = self.conversations.get(conversation_id)
        return Conversation.from_dict(raw) if raw else None

    def _schedule(self, conv: Conversation) -> None:
        """Remember when this conversation next needs looking at (warning or breach)."""
        upcoming = [
            t
            for policy, warn, breach in self.tracker.deadlines(conv)
            for t, done in (
                (warn, conv.sla.get(policy.name, {}).get("warned")),
                (breach, conv.sla.get(policy.name, {}).get("breached")),
            )
            if not done
        ]
        if upcoming:
            self.due[conv.id] = (conv.partition, min(upcoming))
        else:
            self.due.pop(conv.id, None)

    def reindex(self) -> None:
        """Rebuild the due index from the conversations this worker holds now."""
        self.due.clear()
        for _, raw in list(self.conversations.items()):
            if raw and raw.get("waiting_since") and not raw.get("closed_at"):
                self._schedule(Conversation.from_dict(raw))
        self._indexed_at = time.monotonic()

    def invalidate(self) -> None:
        """Partitions moved: rebuild the index on the next tick."""
        self._indexed_at = None

    async def tick(self) -> list[Alert]:
        """Raise warnings and breaches whose time has come, even if nothing else happened."""
        if self._indexed_at is None or time.monotonic() - self._indexed_at > REINDEX_S:
            self.reindex()
        alerts: list[Alert] = []
        for conv_id, (partition, at) in list(self.due.items()):
            clock = self.clocks.get(partition)
            now = clock.now() if clock is not None else None
            if now is None or now < at:
                continue
            raw = self.conversations.get(conv_id)
            if not raw:
                self.due.pop(conv_id, None)
                continue
            conv = Conversation.from_dict(raw)
            found = self.tracker.check(conv, now)
            if found:
                alerts += found
                self.conversations[conv_id] = conv.to_dict()
            self._schedule(conv)
        await self._publish(alerts, [])
        return alerts

    async def _publish(self, alerts: list[Alert], facts: list[Fact]) -> None:
        for alert in alerts:
            prom.ALERTS.labels(kind=alert.kind, status=alert.status).inc()
            log.info("care %s %s: %s", alert.status, alert.kind, alert.summary)
            await self.outbox.send(
                "alerts", alert.fingerprint, encode(alert), timestamp=alert.fired_at.timestamp()
            )
        for fact in facts:
            await self.outbox.send(
                "care_facts",
                fact.conversation,
                json.dumps(fact.to_dict()).encode(),
                timestamp=fact.at.timestamp(),
            )
