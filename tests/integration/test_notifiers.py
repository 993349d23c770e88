"""Slack, Teams, PagerDuty and email notifiers against real servers on 127.0.0.1."""

import asyncio
import email
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from alerts.notification import Notification, Outcome
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.pagerduty import PagerDutyNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.teams import TeamsNotifier
from earful.records import Alert, Evidence, TopPost

T0 = datetime(2026, 11, 16, 14, 10, tzinfo=UTC)


def notification(status="firing") -> Notification:
    a = Alert(
        kind="sentiment_dip",
        brand="Skyway Air",
        rule="pr-sentiment-dip",
        status=status,
        severity="critical",
        fingerprint="fp1",
        fired_at=T0,
        started_at=T0,
        window_start=T0 - timedelta(minutes=30),
        window_end=T0,
        summary="Skyway Air: negative share 85% vs 43% expected",
        evidence=Evidence(
            observed=0.85,
            expected=0.43,
            expected_low=0.3,
            expected_high=0.56,
            unit="negative share",
            p_value=2e-11,
            history=(3, 4, 9, 15),
            top_posts=(TopPost(id="m1", text="cancelled again!", author="ann", followers=2813),),
            top_terms=(("cancelled", 26),),
            search_url="http://127.0.0.1:8000/search?q=x",
        ),
    )
    return Notification(
        receiver="pr",
        group_key="0.0:pr:{brand=Skyway Air}",
        group_labels={"brand": "Skyway Air"},
        alerts=(a,),
        public_url="http://127.0.0.1:8000",
        silence_url="http://127.0.0.1:8000/silences/new?matcher=brand%3DSkyway",
    )


@pytest.fixture()
async def http_receiver(unused_tcp_port):
    state = {"replies": [], "requests": []}

    async def handle(request: web.Request) -> web.Response:
        state["requests"].append((request.path, await request.json()))
        status, headers = state["replies"].pop(0) if state["replies"] else (200, {})
        return web.Response(status=status, headers=headers, text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    yield f"http://127.0.0.1:{unused_tcp_port}", state
    await runner.cleanup()


async def test_slack_block_kit_message(http_receiver):
    base, state = http_receiver
    result = await SlackNotifier(SecretStr(f"{base}/services/T/B/X"), channel="#pr").notify(
        notification()
    )
    assert result.outcome is Outcome.SENT
    _, payload = state["requests"][0]
    assert payload["channel"] == "#pr" and payload["text"].startswith("[CRITICAL] Skyway Air")
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds[0] == "header" and "actions" in kinds
    text = json.dumps(payload)
    assert "85%" in text and "43%" in text and "@ann" in text and "cancelled (26)" in text
    buttons = {
        e["text"]["text"]: e["url"]
        for b in payload["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }
    assert set(buttons) == {"Mentions", "Dashboard", "Silence"}


async def test_slack_rate_limit_is_retryable_with_retry_after(http_receiver):
    base, state = http_receiver
    state["replies"] = [(429, {"Retry-After": "3"})]
    result = await SlackNotifier(SecretStr(f"{base}/hook")).notify(notification())
    assert result.outcome is Outcome.RETRY and result.retry_after == 3.0


async def test_teams_adaptive_card(http_receiver):
    base, state = http_receiver
    assert (
        await TeamsNotifier(SecretStr(f"{base}/teams")).notify(notification())
    ).outcome is Outcome.SENT
    _, payload = state["requests"][0]
    card = payload["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["text"].startswith("[CRITICAL]")


async def test_pagerduty_trigger_and_resolve_share_a_dedup_key(http_receiver):
    base, state = http_receiver
    pd = PagerDutyNotifier(SecretStr("key123"), url=f"{base}/v2/enqueue")
    state["replies"] = [(202, {}), (202, {})]
    assert (await pd.notify(notification())).outcome is Outcome.SENT
    assert (await pd.notify(notification("resolved"))).outcome is Outcome.SENT
    (_, trigger), (_, resolve) = state["requests"]
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "earful-fp1"
    assert trigger["routing_key"] == "key123" and trigger["payload"]["severity"] == "critical"
    state["replies"] = [(400, {})]
    assert (await pd.notify(notification())).outcome is Outcome.GIVE_UP


class Inbox:
    def __init__(self):
        self.messages = []
        self.reply = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reply:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((session.authenticated, envelope))
        return "250 Message accepted"


@pytest.fixture()
def smtp_server(unused_tcp_port):
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == b"earful"
            and auth_data.password == b"s3cret"
        )
        return AuthResult(success=ok, handled=False)  # handled=False: the server replies 535

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=unused_tcp_port,
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    yield unused_tcp_port, inbox
    controller.stop()


def mailer(port, password="s3cret"):
    return EmailNotifier(
        host="127.0.0.1",
        port=port,
        sender="earful@example.com",
        to=("pr@example.com",),
        username="earful",
        password=SecretStr(password),
        starttls=False,
    )


async def test_email_plain_and_html_with_login(smtp_server):
    port, inbox = smtp_server
    result = await mailer(port).notify(notification())
    assert result.outcome is Outcome.SENT
    [(authenticated, envelope)] = inbox.messages
    assert authenticated and envelope.rcpt_tos == ["pr@example.com"]
    msg = email.message_from_bytes(envelope.content)
    assert msg["Subject"].startswith("[CRITICAL] Skyway Air")
    types = {part.get_content_type() for part in msg.walk()}
    assert {"text/plain", "text/html"} <= types
    plain = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_payload(
        decode=True
    )
    assert b"observed 85% vs expected 43%" in plain


async def test_email_temporary_failure_retries_permanent_gives_up(smtp_server):
    port, inbox = smtp_server
    inbox.reply = "451 4.3.0 try again later"
    assert (await mailer(port).notify(notification())).outcome is Outcome.RETRY
    inbox.reply = "550 5.1.1 no such user"
    assert (await mailer(port).notify(notification())).outcome is Outcome.GIVE_UP
    inbox.reply = None
    assert (await mailer(port, password="wrong").notify(notification())).outcome is Outcome.GIVE_UP


async def test_email_server_down_is_retryable(unused_tcp_port):
    result = await asyncio.wait_for(mailer(unused_tcp_port).notify(notification()), 30)
    assert result.outcome is Outcome.RETRY
