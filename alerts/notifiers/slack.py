"""Slack incoming webhook with Block Kit: headline, observed vs expected, sparkline, top posts,
and buttons to the mentions, the dashboard and a pre-filled silence."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from alerts.notification import Delivery, Notification
from alerts.notifiers.base import HttpNotifier
from alerts.notifiers.render import observed_line, post_lines, sparkline, terms_line, window_line


def slack_payload(n: Notification, channel: str | None = None) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": n.title[:150]}}
    ]
    for a in n.alerts[:10]:
        icon = (
            ":white_check_mark:"
            if a.status == "resolved"
            else (":rotating_light:" if a.severity == "critical" else ":warning:")
        )
        text = f"{icon} *{a.summary}*\n{window_line(a)}\n{observed_line(a)}"
        spark = sparkline(a.evidence.history)
        if spark:
            text += f"\n`{spark}`"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}})
        posts = post_lines(a)
        if posts and a.status == "firing":
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "\n".join(f"> {p}" for p in posts)[:2900]},
                }
            )
        if a.evidence.top_terms:
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"terms: {terms_line(a)}"}],
                }
            )
    buttons = []
    first = n.alerts[0]
    if first.evidence.search_url:
        buttons.append(("Mentions", first.evidence.search_url))
    if n.public_url:
        buttons.append(("Dashboard", n.public_url))
    if n.silence_url and n.status == "firing":
        buttons.append(("Silence", n.silence_url))
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
                    for label, url in buttons
                ],
            }
        )
    payload: dict[str, Any] = {"text": n.title, "blocks": blocks}
    if channel:
        payload["channel"] = channel
    return payload


class SlackNotifier(HttpNotifier):
    def __init__(
        self,
        url: SecretStr,
        *,
        channel: str | None = None,
        name: str = "slack",
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ):
        super().__init__(name, timeout_s=timeout_s, client=client)
        self._url = url
        self.channel = channel

    async def notify(self, notification: Notification) -> Delivery:
        payload = slack_payload(notification, self.channel)
        return await self.post(self._url.get_secret_value(), json=payload)
