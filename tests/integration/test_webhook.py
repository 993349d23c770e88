"""WebhookNotifier against a real HTTP server on 127.0.0.1 (aiohttp)."""

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from pydantic import SecretStr

from alerts.notification import Notification, Outcome
from alerts.notifiers.webhook import WebhookNotifier
from earful.records import Alert, Evidence

T0 = datetime(2026, 11, 16, tzinfo=UTC)
SECRET = "s3cret"


def notification() -> Notification:
    a = Alert(
        kind="sentiment_dip",
        brand="Acme",
        rule="dip",
        status="firing",
        severity="critical",
        fingerprint="fp1",
        fired_at=T0,
        window_start=T0 - timedelta(minutes=30),
        window_end=T0,
        evidence=Evidence(observed=0.7, expected=0.2),
        summary="negative share 70%",
    )
    return Notification(
        receiver="pr", group_key="brand=Acme", group_labels={"brand": "Acme"}, alerts=(a,)
    )


@pytest.fixture()
async def receiver(unused_tcp_port):
    state = {"mode": "ok", "requests": []}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        state["requests"].append((dict(request.headers), body))
        mode = state["mode"]
        if mode == "slow":
            await asyncio.sleep(2)
        if mode == "500":
            return web.Response(status=500, text="boom")
        if mode == "429":
            return web.Response(status=429, headers={"Retry-After": "7"})
        if mode == "400":
            return web.Response(status=400, text="bad payload")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    yield f"http://127.0.0.1:{unused_tcp_port}/hook", state
    await runner.cleanup()


async def test_payload_is_signed_and_carries_an_idempotency_key(receiver):
    url, state = receiver
    n = notification()
    result = await WebhookNotifier(SecretStr(url), secret=SecretStr(SECRET)).notify(n)
    assert result.outcome is Outcome.SENT
    headers, body = state["requests"][0]
    expected = hmac.new(
        SECRET.encode(), headers["X-Earful-Timestamp"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert headers["X-Earful-Signature"] == f"sha256={expected}"
    assert headers["Idempotency-Key"] == n.idempotency_key
    payload = json.loads(body)
    assert payload["status"] == "firing" and payload["alerts"][0]["brand"] == "Acme"


@pytest.mark.parametrize(
    ("mode", "outcome", "retry_after"),
    [
        ("500", Outcome.RETRY, None),
        ("429", Outcome.RETRY, 7.0),
        ("400", Outcome.GIVE_UP, None),
        ("slow", Outcome.RETRY, None),
    ],
)
async def test_failures_are_classified(receiver, mode, outcome, retry_after):
    url, state = receiver
    state["mode"] = mode
    result = await WebhookNotifier(SecretStr(url), timeout_s=0.5).notify(notification())
    assert result.outcome is outcome and result.retry_after == retry_after


async def test_connection_refused_is_retryable(unused_tcp_port):
    result = await WebhookNotifier(SecretStr(f"http://127.0.0.1:{unused_tcp_port}/x")).notify(
        notification()
    )
    assert result.outcome is Outcome.RETRY


async def test_the_url_never_appears_in_reprs(receiver):
    url, _ = receiver
    assert url not in repr(WebhookNotifier(SecretStr(url)).__dict__)
