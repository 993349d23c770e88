"""Event time that keeps moving at wall-clock speed between events.

A replay at 1000x moves the clock with its data; a live stream that goes quiet still sees its
deadlines and timers pass, because the clock advances by the wall time since the last event.
Used for care SLA clocks and for alert grouping timers (group_wait, group_interval, repeat)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta


class EventClock:
    def __init__(self, wall: Callable[[], float] = time.monotonic):
        self.wall = wall
        self.max_event: datetime | None = None
        self._wall_at_max = 0.0

    def observe(self, at: datetime) -> None:
        if self.max_event is None or at > self.max_event:
            self.max_event = at
            self._wall_at_max = self.wall()

    def now(self) -> datetime | None:
        if self.max_event is None:
            return None
        return self.max_event + timedelta(seconds=self.wall() - self._wall_at_max)
