"""The JSON body shared by the JSONL sink and the generic webhook (a stable, documented shape)."""

from __future__ import annotations

from typing import Any

from alerts.notification import Notification

SCHEMA_VERSION = 1


def notification_payload(n: Notification) -> dict[str, Any]:
    return {
        "version": SCHEMA_VERSION,
        "receiver": n.receiver,
        "status": n.status,
        "title": n.title,
        "group_key": n.group_key,
        "group_labels": n.group_labels,
        "idempotency_key": n.idempotency_key,
        "dashboard_url": n.public_url or None,
        "silence_url": n.silence_url or None,
        "alerts": [a.model_dump(mode="json") for a in n.alerts],
    }
