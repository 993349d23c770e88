"""What a receiver is told and the notifier contract (after Alertmanager's `Notifier.Notify`
returning retry-or-not).

No HTTP here: the router builds `Notification`s and may import this module without pulling in
any client library; the notifiers that speak HTTP live in `alerts/notifiers/`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from earful.records import Alert


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: try again later
    GIVE_UP = "give_up"  # permanent: retrying cannot help


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    detail: str = ""
    #: Seconds the receiver asked us to wait (Retry-After), if it said.
    retry_after: float | None = None


@dataclass(frozen=True)
class Notification:
    """What one receiver is told at once: a group of alerts sharing the group labels."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: tuple[Alert, ...]
    #: Link back to the Earful dashboard.
    public_url: str = ""
    #: Dashboard URL that silences this group (pre-filled matchers).
    silence_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: When this group was last told, in its event time ("" the first time): a reminder of
    #: the same alerts (repeat_interval) is a new notice, not a retry of the last one.
    previous: str = ""

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "resolved"]

    @property
    def idempotency_key(self) -> str:
        """Same group, same alert notices, same turn -> same key: receivers can drop our
        retries (and a notice sent again after a crash), never a reminder."""
        ids = ",".join(sorted(a.id for a in self.alerts))
        turn = f"|{self.previous}" if self.previous else ""
        return hashlib.sha256(f"{self.receiver}|{self.group_key}|{ids}{turn}".encode()).hexdigest()[
            :32
        ]

    @property
    def title(self) -> str:
        lead = self.alerts[0]
        kinds = sorted({a.kind for a in self.alerts})
        count = f" (+{len(self.alerts) - 1} more)" if len(self.alerts) > 1 else ""
        state = "RESOLVED" if self.status == "resolved" else lead.severity.upper()
        return f"[{state}] {lead.brand}: {', '.join(kinds)}{count}"


class Notifier(Protocol):
    name: str

    async def notify(self, notification: Notification) -> Delivery: ...
