"""The silencing stage: people mute alerts by label matchers for a while."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from alerts.routing.config import matches_all
from alerts.routing.state import Silence


def silenced(silences: Iterable[Silence], labels: dict[str, str], now: datetime) -> bool:
    return any(s.active(now) and matches_all(s.matchers, labels) for s in silences)


def expired(silences: Iterable[Silence], now: datetime, keep: timedelta) -> list[str]:
    """Silences over for longer than `keep`: nobody needs them listed any more."""
    return [s.id for s in silences if s.ends_at < now - keep]
