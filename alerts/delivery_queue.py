"""Deliveries a receiver could not take yet, kept and retried until it is back.

A Slack outage or a webhook being redeployed lasts minutes, not the seconds of `deliver`'s
in-line retries. A notification that still fails transiently is *parked* here: retried with
exponential backoff (full jitter, capped) until `max_age`, then given up (and dead-lettered by
the caller). Each parked delivery is one small record, `p|<notifier>|<idempotency key>`, kept in
the dispatcher's table beside the routing state, so a restarted worker resumes the retries and
a delivery that succeeded is never repeated. Pure: the wall clock is passed in.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.notification import Notification
from alerts.routing.records import NotificationRecord, ParkedRecord

PREFIX = "p|"


def notification_record(n: Notification) -> NotificationRecord:
    return NotificationRecord(
        receiver=n.receiver,
        group_key=n.group_key,
        group_labels=n.group_labels,
        alerts=list(n.alerts),
        public_url=n.public_url,
        silence_url=n.silence_url,
        previous=n.previous,
    )


def notification_from_record(r: NotificationRecord) -> Notification:
    return Notification(
        receiver=r.receiver,
        group_key=r.group_key,
        group_labels=dict(r.group_labels),
        alerts=tuple(r.alerts),
        public_url=r.public_url,
        silence_url=r.silence_url,
        previous=r.previous,
    )


@dataclass
class Parked:
    notifier: str
    notification: Notification
    attempts: int
    first_at: datetime
    next_at: datetime
    last_error: str

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.notifier}|{self.notification.idempotency_key}"

    def record(self) -> dict[str, Any]:
        return ParkedRecord(
            notifier=self.notifier,
            notification=notification_record(self.notification),
            attempts=self.attempts,
            first_at=self.first_at,
            next_at=self.next_at,
            error=self.last_error,
        ).dump()

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Parked:
        r = ParkedRecord.model_validate(d)
        return cls(
            notifier=r.notifier,
            notification=notification_from_record(r.notification),
            attempts=r.attempts,
            first_at=r.first_at,
            next_at=r.next_at,
            last_error=r.error,
        )


class DeliveryQueue:
    def __init__(
        self,
        *,
        base: timedelta = timedelta(seconds=5),
        cap: timedelta = timedelta(minutes=5),
        max_age: timedelta = timedelta(hours=24),
        rng: random.Random | None = None,
    ):
        self.base, self.cap, self.max_age = base, cap, max_age
        self.rng = rng or random.Random()
        self.parked: dict[str, Parked] = {}
        self._dirty: set[str] = set()

    def __len__(self) -> int:
        return len(self.parked)

    def _backoff(self, attempts: int, retry_after: float | None = None) -> timedelta:
        # full jitter within an exponentially growing window, never under half the window's
        # floor (so a fleet of parked deliveries spreads out but keeps moving)
        window = min(
            self.cap.total_seconds(), self.base.total_seconds() * 2 ** max(0, attempts - 1)
        )
        seconds = self.rng.uniform(window / 2, window)
        return timedelta(seconds=max(seconds, min(retry_after or 0.0, self.cap.total_seconds())))

    def park(
        self,
        notifier: str,
        notification: Notification,
        error: str,
        now: datetime,
        *,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> Parked:
        item = Parked(
            notifier, notification, attempts, now, now + self._backoff(attempts, retry_after), error
        )
        self.parked[item.key] = item
        self._dirty.add(item.key)
        return item

    def due(self, now: datetime) -> list[Parked]:
        return sorted(
            (p for p in self.parked.values() if p.next_at <= now), key=lambda p: p.next_at
        )

    def succeeded(self, item: Parked) -> None:
        self.parked.pop(item.key, None)
        self._dirty.add(item.key)

    def failed(
        self, item: Parked, error: str, now: datetime, retry_after: float | None = None
    ) -> bool:
        """Record another failed attempt; True when it is given up (older than `max_age`)."""
        item.attempts += 1
        item.last_error = error
        self._dirty.add(item.key)
        if now - item.first_at >= self.max_age:
            self.parked.pop(item.key, None)
            return True
        item.next_at = now + self._backoff(item.attempts, retry_after)
        return False

    def drop(self, item: Parked) -> None:
        self.succeeded(item)

    def changes(self) -> dict[str, dict[str, Any] | None]:
        out = {k: (self.parked[k].record() if k in self.parked else None) for k in self._dirty}
        self._dirty.clear()
        return out

    def load_records(self, items: Iterable[tuple[str, dict[str, Any] | None]]) -> None:
        self.parked = {}
        self._dirty.clear()
        for key, value in items:
            if key.startswith(PREFIX) and value:
                item = Parked.from_record(value)
                self.parked[item.key] = item
