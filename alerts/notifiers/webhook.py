"""Generic webhook: JSON POST signed with HMAC-SHA256, with an idempotency key.

Headers: `X-Earful-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`,
`X-Earful-Timestamp` (epoch seconds, include it in the check to stop replays) and
`Idempotency-Key` (identical for retries of the same notification).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import httpx
from pydantic import SecretStr

from alerts.notification import Delivery, Notification
from alerts.notifiers.base import USER_AGENT, HttpNotifier
from alerts.notifiers.payload import notification_payload


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier(HttpNotifier):
    def __init__(
        self,
        url: SecretStr,
        *,
        secret: SecretStr | None = None,
        name: str = "webhook",
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(name, timeout_s=timeout_s, client=client)
        self._url = url
        self._secret = secret
        self.clock = clock

    async def notify(self, notification: Notification) -> Delivery:
        body = json.dumps(notification_payload(notification), ensure_ascii=False).encode()
        ts = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": notification.idempotency_key,
            "X-Earful-Timestamp": ts,
        }
        if self._secret is not None:
            headers["X-Earful-Signature"] = sign(self._secret.get_secret_value(), ts, body)
        return await self.post(self._url.get_secret_value(), content=body, headers=headers)
