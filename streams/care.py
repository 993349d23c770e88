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
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from datetime import datetime

from alerts.care.conversation import CareTracker, Fact
from alerts.care.driver import CareDriver
from alerts.clock import EventClock
from earful.codec import InvalidMessage, decode_record, encode
from earful.records import Alert, InboxEvent, InboxRecord, MessageReceived
from models.analyzer import TextAnalyzer
from streams import metrics as prom
from streams.deadletters import DeadLetters
from streams.messages import Msg, Outbox, Records, StagedRecords

log = logging.getLogger(__name__)


class CareStep:
    """Decodes and scores inbox events, hands them to the pure `CareDriver`, and publishes
    its alerts and facts."""

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
        self.conversations = StagedRecords(conversations)
        # tests pass one clock for every partition
        self.driver = CareDriver(
            tracker, self.conversations, clock=(lambda: clock) if clock is not None else EventClock
        )
        # the agent and the SLA timer share the driver; each holds it from judging to commit
        self._lock = asyncio.Lock()
        self._analyzer = analyzer
        self.executor = executor
        self.outbox = outbox
        self.deadletters = deadletters

    @property
    def due(self) -> dict[str, tuple[int, datetime]]:
        return self.driver.due

    def invalidate(self) -> None:
        self.driver.invalidate()

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
        events: list[tuple[InboxEvent, int]] = []
        for msg in batch:
            try:
                event = decode_record(msg.value or b"", InboxRecord).root
            except InvalidMessage as exc:
                prom.DEADLETTERS.labels(stage="care", error=exc.error_type).inc()
                await self.deadletters.send(msg, exc)
                continue
            events.append((event, msg.partition if msg.partition is not None else -1))
        inbound = [e for e, _ in events if isinstance(e, MessageReceived)]
        scores = dict(zip([id(e) for e in inbound], await self._scores(inbound), strict=True))
        async with self._lock:
            alerts, facts = self.driver.apply([(e, p, scores.get(id(e))) for e, p in events])
            await self._publish(alerts, facts)
        return alerts

    async def tick(self) -> list[Alert]:
        """Raise warnings and breaches whose time has come, even if nothing else happened."""
        async with self._lock:
            alerts = self.driver.tick()
            await self._publish(alerts, [])
        return alerts

    async def _publish(self, alerts: list[Alert], facts: list[Fact]) -> None:
        """Send, wait for Kafka's acknowledgment, then keep the state that records them."""
        await self.conversations.keep_after(
            lambda: self._send(alerts, facts), self.outbox, self.driver.invalidate
        )

    async def _send(self, alerts: list[Alert], facts: list[Fact]) -> None:
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
