"""Agent steps for alerts: index them, route and group them, deliver notifications.

The `alerts` and `control` topics have one partition: alert volume is small, and grouping and
inhibition need to see every alert in order (as one Alertmanager does). The dispatcher's state
lives in a one-partition Faust table as small records (see alerts/routing/state.py), so a
restarted worker recovers what was already delivered and does not notify it again. The worker
holding that partition keeps the state in memory and writes only the records that changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from alerts.delivery import RetryPolicy, Sleep, deliver
from alerts.delivery_queue import DeliveryQueue
from alerts.notification import Notification, Notifier, Outcome
from alerts.notifiers.base import classify_error
from alerts.notifiers.payload import notification_payload
from alerts.routing.commands import apply_command, parse_command
from alerts.routing.dispatcher import Dispatcher
from earful.codec import InvalidMessage, decode_json, decode_record
from earful.records import Alert
from streams import metrics
from streams.deadletters import DeadLetters, invalid
from streams.messages import Msg, Outbox, Records
from streams.search.base import Doc, SearchStore

log = logging.getLogger(__name__)


def alert_document(alert: Alert) -> dict[str, object]:
    doc: dict[str, object] = {"id": alert.id, **alert.model_dump(mode="json")}
    if alert.labels.get("team"):
        doc["team"] = alert.labels["team"]
    return doc


class DispatchStep:
    def __init__(
        self,
        dispatcher: Dispatcher,
        state: Records,
        store: Callable[[], Awaitable[SearchStore]],
        notifiers: Mapping[str, Sequence[Notifier]],
        outbox: Outbox,
        deadletters: DeadLetters,
        clock: Callable[[], datetime],
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
        queue: DeliveryQueue | None = None,
    ):
        self.dispatcher = dispatcher
        self.state = state
        self._store = store
        self.notifiers = notifiers
        self.outbox = outbox
        self.deadletters = deadletters
        self.clock = clock
        # in-line retries stay short (they hold the step); longer outages go to the queue
        self.policy = policy or RetryPolicy(attempts=3, base_s=0.5, cap_s=2.0)
        self.sleep = sleep
        self.queue = queue if queue is not None else DeliveryQueue()  # (an empty one is falsy)
        self.by_name = {n.name: n for group in notifiers.values() for n in group}
        #: Grouping timers run on each group's event time (see alerts/routing/state.py), so
        #: the step only passes the wall clock.
        self._loaded = False
        #: The alert agent and the delivery timer both deliver what is due. Each delivery
        #: awaits the network, so without this the two could take the same notification off
        #: the dispatcher and send it twice (seen in the scale-out fault test: one alert, two
        #: notices with the same idempotency key, 1 ms apart).
        self._delivering = asyncio.Lock()

    def invalidate(self) -> None:
        """Partitions moved: read the state back from the table before the next use."""
        self._loaded = False

    def _load(self) -> Dispatcher:
        if self._loaded:
            return self.dispatcher
        items = [(k, v) for k, v in self.state.items() if v is not None]
        self.dispatcher.load_records(items)
        self.queue.load_records(items)
        metrics.NOTIFICATIONS_PENDING.set(len(self.queue))
        self._loaded = True
        return self.dispatcher

    def _save(self) -> None:
        changes = {**self.dispatcher.changes(), **self.queue.changes()}
        for key, value in changes.items():
            if value is None:
                if self.state.get(key) is not None:
                    del self.state[key]
            else:
                self.state[key] = value

    async def handle_alerts(self, batch: Sequence[Msg]) -> list[Alert]:
        alerts: list[Alert] = []
        for msg in batch:
            try:
                alerts.append(decode_record(msg.value or b"", Alert))
            except InvalidMessage as exc:
                await self.deadletters.send(msg, exc)
        if not alerts:
            return []
        store = await self._store()
        await store.bulk_index("alerts", [Doc(a.id, alert_document(a)) for a in alerts])
        dispatcher = self._load()
        for alert in alerts:
            # In event time, timers that ran out before this alert fire before it is filed: a
            # replayed incident whose firing and resolved notices arrive in one batch is still
            # told as firing (after group_wait), as it would have been live.
            dispatcher.observe(alert, self.clock())
            if dispatcher.timers_due(self.clock()):
                await self._deliver_due(dispatcher)
            dispatcher.ingest(alert, self.clock())
        self._save()
        return alerts

    async def handle_control(self, batch: Sequence[Msg]) -> None:
        """Silences, their expiry and acknowledgements, sent by `earful silences` / `alerts ack`."""
        dispatcher, changed = self._load(), False
        for msg in batch:
            try:
                command = parse_command(decode_json(msg.value or b""))
                apply_command(dispatcher, command, self.clock())
                changed = True
            except (InvalidMessage, KeyError, TypeError, ValueError) as exc:
                await self.deadletters.send(msg, invalid(exc, "invalid control message"))
        if changed:
            self._save()

    async def tick(self) -> list[Notification]:
        """Deliver whatever is due now; record it; dead-letter what could not be delivered."""
        dispatcher = self._load()
        due = await self._deliver_due(dispatcher)
        await self._retry_parked()
        dispatcher.expire(self.clock())
        self._save()
        return due

    async def _deliver_due(self, dispatcher: Dispatcher) -> list[Notification]:
        async with self._delivering:
            due = dispatcher.due(self.clock())
            for notification in due:
                await self._deliver(notification)
                dispatcher.delivered(notification, self.clock())
            return due

    async def _deliver(self, notification: Notification) -> None:
        payload = json.dumps(notification_payload(notification)).encode()
        for notifier in self.notifiers.get(notification.receiver, ()):
            result, attempts = await deliver(
                notifier, notification, self.policy, sleep=self.sleep or asyncio.sleep
            )
            metrics.NOTIFICATIONS.labels(receiver=notifier.name, outcome=result.outcome.value).inc()
            if result.outcome is Outcome.SENT:
                log.info(
                    "notified %s: %s",
                    notifier.name,
                    notification.title,
                    extra={"group_key": notification.group_key, "receiver": notifier.name},
                )
                continue
            reason = f"notification to {notifier.name} failed after {attempts} attempts: "
            if result.outcome is Outcome.RETRY:
                parked = self.queue.park(
                    notifier.name,
                    notification,
                    result.detail,
                    self.clock(),
                    attempts=attempts,
                    retry_after=result.retry_after,
                )
                metrics.NOTIFICATIONS_PENDING.set(len(self.queue))
                await self._dead_letter(
                    notification,
                    payload,
                    f"{reason}{result.detail}; kept and retried with backoff until "
                    f"{(parked.first_at + self.queue.max_age).isoformat(timespec='seconds')}",
                    "notification_deferred",
                )
                continue
            await self._dead_letter(
                notification, payload, reason + result.detail, "notification_failed"
            )
        await self.outbox.send("notifications", notification.group_key, payload)

    async def _retry_parked(self) -> None:
        async with self._delivering:
            await self._retry_parked_unlocked()

    async def _retry_parked_unlocked(self) -> None:
        """One attempt for each parked delivery that is due (never blocks on backoff)."""
        now = self.clock()
        for item in self.queue.due(now):
            notifier = self.by_name.get(item.notifier)
            payload = json.dumps(notification_payload(item.notification)).encode()
            if notifier is None:  # the receiver was removed from the routes since
                self.queue.drop(item)
                await self._dead_letter(
                    item.notification,
                    payload,
                    f"notification to {item.notifier} dropped: no such notifier any more",
                    "notification_failed",
                )
                continue
            try:
                result = await notifier.notify(item.notification)
            except Exception as exc:  # a notifier bug must not stop the others
                result = classify_error(exc)
            metrics.NOTIFICATIONS.labels(receiver=notifier.name, outcome=result.outcome.value).inc()
            if result.outcome is Outcome.SENT:
                self.queue.succeeded(item)
                log.info(
                    "notified %s after %d attempts: %s",
                    notifier.name,
                    item.attempts + 1,
                    item.notification.title,
                    extra={"group_key": item.notification.group_key, "receiver": notifier.name},
                )
            elif result.outcome is Outcome.GIVE_UP or self.queue.failed(
                item, result.detail, now, result.retry_after
            ):
                self.queue.drop(item)
                await self._dead_letter(
                    item.notification,
                    payload,
                    f"notification to {notifier.name} given up after {item.attempts} attempts "
                    f"since {item.first_at.isoformat(timespec='seconds')}: {result.detail}",
                    "notification_failed",
                )
        metrics.NOTIFICATIONS_PENDING.set(len(self.queue))

    async def _dead_letter(
        self, notification: Notification, payload: bytes, reason: str, kind: str
    ) -> None:
        msg = Msg(value=payload, topic="notifications", key=notification.group_key.encode())
        await self.deadletters.send(msg, InvalidMessage(reason, kind))
