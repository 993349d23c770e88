"""Console / JSONL sink: every notification appended as one JSON line, and logged."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from alerts.notification import Delivery, Notification, Outcome
from alerts.notifiers.payload import notification_payload

log = logging.getLogger("earful.notifications")


class JsonlNotifier:
    def __init__(self, path: Path, name: str = "console"):
        self.name = name
        self.path = path

    async def notify(self, notification: Notification) -> Delivery:
        line = json.dumps(notification_payload(notification), ensure_ascii=False)
        try:
            await asyncio.to_thread(self._append, line)
        except OSError as exc:
            return Delivery(Outcome.RETRY, f"cannot write {self.path}: {exc}")
        log.warning("%s — %s", notification.title, notification.alerts[0].summary)
        return Delivery(Outcome.SENT, str(self.path))

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
