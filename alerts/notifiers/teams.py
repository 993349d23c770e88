"""Microsoft Teams incoming webhook (Workflows) with an Adaptive Card."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from alerts.notification import Delivery, Notification
from alerts.notifiers.base import HttpNotifier
from alerts.notifiers.render import observed_line, post_lines, window_line


def teams_payload(n: Notification) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": n.title, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    for a in n.alerts[:10]:
        body.append(
            {
                "type": "TextBlock",
                "text": a.summary,
                "wrap": True,
                "color": "Good" if a.status == "resolved" else "Attention",
            }
        )
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Window", "value": window_line(a)},
                    {"title": "Evidence", "value": observed_line(a)},
                ],
            }
        )
        if a.status == "firing":
            body += [
                {"type": "TextBlock", "text": p, "wrap": True, "isSubtle": True}
                for p in post_lines(a, 2)
            ]
    actions = []
    if n.alerts[0].evidence.search_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Mentions", "url": n.alerts[0].evidence.search_url}
        )
    if n.silence_url and n.status == "firing":
        actions.append({"type": "Action.OpenUrl", "title": "Silence", "url": n.silence_url})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


class TeamsNotifier(HttpNotifier):
    def __init__(
        self,
        url: SecretStr,
        *,
        name: str = "teams",
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ):
        super().__init__(name, timeout_s=timeout_s, client=client)
        self._url = url

    async def notify(self, notification: Notification) -> Delivery:
        return await self.post(self._url.get_secret_value(), json=teams_payload(notification))
