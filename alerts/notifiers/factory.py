"""Build the notifiers of each receiver from the routing configuration."""

from __future__ import annotations

from pathlib import Path

from alerts.notifiers.base import Notifier
from alerts.notifiers.console import JsonlNotifier
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.pagerduty import PagerDutyNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.teams import TeamsNotifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.routing.config import EmailConfig, RoutingConfig


class ReceiverSetupError(ValueError):
    pass


def email_notifier(e: EmailConfig, name: str) -> EmailNotifier:
    return EmailNotifier(
        host=e.host,
        port=e.port,
        sender=e.sender,
        to=e.to,
        username=e.username,
        password=e.password(),
        starttls=e.starttls,
        name=name,
    )


def build_notifiers(config: RoutingConfig, *, console_path: Path) -> dict[str, list[Notifier]]:
    out: dict[str, list[Notifier]] = {}
    for r in config.receivers:
        notifiers: list[Notifier] = []
        try:
            if r.console is not None:
                notifiers.append(
                    JsonlNotifier(r.console.path or console_path, name=f"{r.name}/console")
                )
            if r.slack is not None:
                notifiers.append(
                    SlackNotifier(r.slack.url(), channel=r.slack.channel, name=f"{r.name}/slack")
                )
            if r.teams is not None:
                notifiers.append(TeamsNotifier(r.teams.url(), name=f"{r.name}/teams"))
            if r.webhook is not None:
                notifiers.append(
                    WebhookNotifier(
                        r.webhook.url(), secret=r.webhook.secret(), name=f"{r.name}/webhook"
                    )
                )
            if r.pagerduty is not None:
                notifiers.append(
                    PagerDutyNotifier(
                        r.pagerduty.routing_key(), url=r.pagerduty.url, name=f"{r.name}/pagerduty"
                    )
                )
            if r.email is not None:
                notifiers.append(email_notifier(r.email, f"{r.name}/email"))
        except ValueError as exc:
            raise ReceiverSetupError(f"receiver '{r.name}': {exc}") from None
        out[r.name] = notifiers
    return out
