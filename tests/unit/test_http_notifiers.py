"""HTTP notifiers' payloads and answer classification, through httpx.MockTransport.

One shared client is injected into every notifier, as the worker shares one; the loopback
server tests in tests/integration/test_notifiers.py and test_webhook.py stay the real check."""

import hashlib
import hmac
import json

import httpx
import pytest
from pydantic import SecretStr

from alerts.notification import Outcome
from alerts.notifiers.pagerduty import PagerDutyNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.teams import TeamsNotifier
from alerts.notifiers.webhook import WebhookNotifier
from tests.integration.test_notifiers import notification


class Receiver:
    def __init__(self, *answers: httpx.Response):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else httpx.Response(200)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


async def test_one_client_serves_every_notifier():
    receiver = Receiver()
    client = receiver.client()
    slack = SlackNotifier(SecretStr("http://hooks/slack"), channel="#pr", client=client)
    teams = TeamsNotifier(SecretStr("http://hooks/teams"), client=client)
    for n in (slack, teams):
        assert (await n.notify(notification())).outcome is Outcome.SENT
    slack_body, teams_body = (json.loads(r.content) for r in receiver.requests)
    assert slack_body["channel"] == "#pr" and slack_body["blocks"][0]["type"] == "header"
    buttons = [e["text"]["text"] for e in slack_body["blocks"][-1]["elements"]]
    assert buttons == ["Mentions", "Dashboard", "Silence"]
    card = teams_body["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["actions"][-1]["title"] == "Silence"


async def test_webhook_is_signed_with_an_idempotency_key():
    receiver = Receiver()
    hook = WebhookNotifier(
        SecretStr("http://hooks/x"),
        secret=SecretStr("k"),
        client=receiver.client(),
        clock=lambda: 1_763_388_000,
    )
    n = notification()
    assert (await hook.notify(n)).outcome is Outcome.SENT
    [request] = receiver.requests
    expected = hmac.new(b"k", b"1763388000." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["x-earful-signature"] == f"sha256={expected}"
    assert request.headers["idempotency-key"] == n.idempotency_key


@pytest.mark.parametrize(
    ("answer", "outcome", "retry_after"),
    [
        (httpx.Response(200), Outcome.SENT, None),
        (httpx.Response(429, headers={"Retry-After": "7"}), Outcome.RETRY, 7.0),
        (httpx.Response(503), Outcome.RETRY, None),
        (httpx.Response(400, text="invalid_blocks"), Outcome.GIVE_UP, None),
        (httpx.Response(404), Outcome.GIVE_UP, None),
    ],
)
async def test_answers_are_classified(answer, outcome, retry_after):
    hook = SlackNotifier(SecretStr("http://hooks/slack"), client=Receiver(answer).client())
    delivery = await hook.notify(notification())
    assert delivery.outcome is outcome and delivery.retry_after == retry_after


async def test_network_errors_are_retryable_and_never_raise():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    delivery = await PagerDutyNotifier(SecretStr("key"), client=client).notify(notification())
    assert delivery.outcome is Outcome.RETRY and "ConnectError" in delivery.detail


async def test_pagerduty_sends_one_event_per_alert_and_stops_at_a_failure():
    receiver = Receiver(httpx.Response(202), httpx.Response(500))
    pd = PagerDutyNotifier(SecretStr("key"), client=receiver.client())
    assert (await pd.notify(notification())).outcome is Outcome.SENT
    event = json.loads(receiver.requests[0].content)
    assert event["dedup_key"] == "earful-fp1" and event["event_action"] == "trigger"
    assert (await pd.notify(notification())).outcome is Outcome.RETRY
