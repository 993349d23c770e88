"""The HTTP side of notifying: one shared client, one way to post and classify the answer.

`HttpNotifier` is the base of every notifier that speaks HTTP (Slack, Teams, webhooks,
PagerDuty). It posts through one `httpx.AsyncClient` shared by all notifiers on an event loop
(or the one injected, e.g. with `httpx.MockTransport` in unit tests), and turns the answer into
a `Delivery`. It never retries: retries belong to `alerts.delivery.RetryPolicy` and the
delivery queue, so there is one retry loop in Earful, not one per receiver.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import httpx

from alerts.notification import Delivery, Notification, Notifier, Outcome

__all__ = [
    "Delivery",
    "HttpNotifier",
    "Notification",
    "Notifier",
    "Outcome",
    "classify_error",
    "classify_http",
    "shared_client",
]

USER_AGENT = "earful/0.1"

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def shared_client() -> httpx.AsyncClient:
    """The client every HTTP notifier on the running event loop shares (keep-alive, one pool).

    One per loop, because an httpx client's connections belong to the loop that opened them."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = httpx.AsyncClient(headers={"User-Agent": USER_AGENT})
    return client


def classify_http(response: httpx.Response) -> Delivery:
    """2xx sent; 408/425/429/5xx retry (honouring Retry-After); other 4xx give up."""
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


class HttpNotifier:
    """Base of the HTTP notifiers: subclasses build the request, `post` sends and classifies."""

    def __init__(
        self, name: str, *, timeout_s: float = 10.0, client: httpx.AsyncClient | None = None
    ):
        self.name = name
        self.timeout_s = timeout_s
        self._client = client

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client if self._client is not None else shared_client()

    async def post(
        self,
        url: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Delivery:
        try:
            response = await self.client.post(
                url, json=json, content=content, headers=headers, timeout=self.timeout_s
            )
        except Exception as exc:
            return classify_error(exc)
        return classify_http(response)

    async def notify(self, notification: Notification) -> Delivery:
        raise NotImplementedError
