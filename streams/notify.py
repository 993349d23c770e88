"""Agent step `notify`: alerts -> alerts index + notifiers; undeliverable -> dead letters."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from alerts.delivery import RetryPolicy, Sleep, deliver
from alerts.notifiers.base import Notification, Notifier, Outcome
from earful.codec import InvalidMessage, decode_record
from earful.records import Alert
from streams import metrics
from streams.deadletters import DeadLetters
from streams.messages import Msg
from streams.search.base import Doc, SearchStore

log = logging.getLogger(__name__)


def alert_document(alert: Alert) -> dict[str, object]:
    return {"id": alert.id, **alert.model_dump(mode="json")}


class NotifyStep:
    """Skeleton dispatch: every alert goes to every notifier (routing replaces this)."""

    def __init__(
        self,
        store: Callable[[], Awaitable[SearchStore]],
        notifiers: Sequence[Notifier],
        deadletters: DeadLetters,
        *,
        public_url: str = "",
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
    ):
        self._store = store
        self.notifiers = list(notifiers)
        self.deadletters = deadletters
        self.public_url = public_url
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    async def handle(self, batch: Sequence[Msg]) -> list[Alert]:
        alerts: list[tuple[Msg, Alert]] = []
        for msg in batch:
            try:
                alerts.append((msg, decode_record(msg.value or b"", Alert)))
            except InvalidMessage as exc:
                await self.deadletters.send(msg, exc)
        if not alerts:
            return []
        store = await self._store()
        await store.bulk_index("alerts", [Doc(a.id, alert_document(a)) for _, a in alerts])
        for msg, alert in alerts:
            notification = Notification(
                receiver="default",
                group_key=alert.fingerprint,
                group_labels=alert.all_labels(),
                alerts=(alert,),
                public_url=self.public_url,
            )
            for notifier in self.notifiers:
                result, attempts = await deliver(
                    notifier, notification, self.policy, sleep=self.sleep or asyncio.sleep
                )
                metrics.NOTIFICATIONS.labels(
                    receiver=notifier.name, outcome=result.outcome.value
                ).inc()
                if result.outcome is not Outcome.SENT:
                    await self.deadletters.send(
                        msg,
                        InvalidMessage(
                            f"notification to {notifier.name} failed after {attempts} attempts: "
                            f"{result.detail}",
                            "notification_failed",
                        ),
                    )
        return [a for _, a in alerts]
