"""PagerDuty Events API v2: one trigger/resolve event per alert, deduplicated by fingerprint."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from alerts.notification import Delivery, Notification, Outcome
from alerts.notifiers.base import HttpNotifier
from earful.records import Alert

SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


def pagerduty_event(alert: Alert, routing_key: str, public_url: str = "") -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if alert.status == "resolved" else "trigger",
        "dedup_key": f"earful-{alert.fingerprint}",
    }
    if alert.status == "firing":
        event["payload"] = {
            "summary": alert.summary[:1024] or f"{alert.kind} {alert.brand}",
            "source": "earful",
            "severity": SEVERITY[alert.severity],
            "component": alert.brand,
            "group": alert.kind,
            "class": alert.rule,
            "timestamp": alert.fired_at.isoformat(),
            "custom_details": {
                "observed": alert.evidence.observed,
                "expected": alert.evidence.expected,
                "unit": alert.evidence.unit,
                "search_query": alert.evidence.search_query,
                "labels": alert.all_labels(),
            },
        }
        links = [
            {"href": u, "text": t}
            for t, u in (("Mentions", alert.evidence.search_url), ("Dashboard", public_url))
            if u
        ]
        if links:
            event["links"] = links
    return event


class PagerDutyNotifier(HttpNotifier):
    def __init__(
        self,
        routing_key: SecretStr,
        *,
        url: str = "https://events.pagerduty.com/v2/enqueue",
        name: str = "pagerduty",
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ):
        super().__init__(name, timeout_s=timeout_s, client=client)
        self._key = routing_key
        self.url = url

    async def notify(self, notification: Notification) -> Delivery:
        result = Delivery(Outcome.SENT)
        for alert in notification.alerts:
            event = pagerduty_event(alert, self._key.get_secret_value(), notification.public_url)
            result = await self.post(self.url, json=event)
            if result.outcome is not Outcome.SENT:
                return result  # PagerDuty dedups by key, so a retry of all is safe
        return result
