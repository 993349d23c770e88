"""The notifier contract (after Alertmanager's `Notifier.Notify` returning retry-or-not)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx

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
        """Same group, same alert notices -> same key: receivers can drop our retries."""
        ids = ",".join(sorted(a.id for a in self.alerts))
        return hashlib.sha256(f"{self.receiver}|{self.group_key}|{ids}".encode()).hexdigest()[:32]

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


def classify_http(response: httpx.Response) -> Delivery:
    """2xx sent; 408/429/5xx retry (honouring Retry-After); other 4xx give up."""
    code = response.status_code
    if 200 <= code < 300:
        return Delivery(Outcome.SENT, f"HTTP {code}")
    retry_after = None
    header = response.headers.get("retry-after")
    if header:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    detail = f"HTTP {code}: {response.text[:200]}"
    if code in (408, 425, 429) or code >= 500:
        return Delivery(Outcome.RETRY, detail, retry_after)
    return Delivery(Outcome.GIVE_UP, detail)


def classify_error(exc: Exception) -> Delivery:
    """Network trouble is worth retrying; anything else is a bug or misconfiguration."""
    if isinstance(exc, httpx.TransportError):
        return Delivery(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
    return Delivery(Outcome.GIVE_UP, f"{type(exc).__name__}: {exc}")
