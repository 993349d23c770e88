"""Care metrics over a sliding window: what care leads report every week, computed live.

From facts (a conversation opened, was answered first after N business seconds, answered again,
closed, is waiting since ...), `snapshot(now)` gives, overall and per channel, team and agent:

- received: conversations opened in the window;
- first response time (median, p90) and reply wait (median, p90), in business seconds;
- response rate: share of the window's conversations that got a first reply by now;
- backlog: conversations waiting for a reply now, and how long the oldest has waited.

The same code runs in the stream (published on `care.metrics`) and offline (`earful care
report`), so the two agree by construction and a test checks that they do.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.care.conversation import Fact


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (what spreadsheet users expect from 'p90')."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class CareMetrics:
    window: timedelta
    facts: list[Fact] = field(default_factory=list)
    #: conversation -> (waiting since, channel) for the backlog
    waiting: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    #: conversation -> when it got its first reply (for the response rate)
    first_reply: dict[str, datetime] = field(default_factory=dict)
    #: conversations whose backlog entry changed since the caller last cleared this (so the
    #: stream persists only those)
    changed: set[str] = field(default_factory=set)

    def add(self, fact: Fact) -> None:
        self.facts.append(fact)
        if fact.kind == "waiting" and fact.since is not None:
            self.waiting[fact.conversation] = (fact.since, fact.channel)
            self.changed.add(fact.conversation)
        elif (
            fact.kind in ("first_response", "reply", "closed")
            and self.waiting.pop(fact.conversation, None) is not None
        ):
            self.changed.add(fact.conversation)
        if fact.kind == "first_response":
            self.first_reply.setdefault(fact.conversation, fact.at)

    def take_changed(self) -> set[str]:
        """The conversations whose backlog entry changed since the last call."""
        changed, self.changed = self.changed, set()
        return changed

    def restore_waiting(self, waiting: dict[str, tuple[datetime, str]]) -> None:
        """The backlog as persisted (after replaying the facts still kept)."""
        self.waiting = waiting
        self.changed.clear()

    def prune(self, now: datetime) -> None:
        horizon = now - self.window * 2
        self.facts = [f for f in self.facts if f.at >= horizon]
        opened = {f.conversation for f in self.facts if f.kind == "opened"}
        self.first_reply = {c: t for c, t in self.first_reply.items() if c in opened}

    def snapshot(self, now: datetime) -> list[dict[str, Any]]:
        start = now - self.window
        recent = [f for f in self.facts if start <= f.at < now]
        scopes: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        for f in recent:
            scopes[("all", "all")].append(f)
            scopes[("channel", f.channel)].append(f)
            if f.team:
                scopes[("team", f.team)].append(f)
            if f.agent:
                scopes[("agent", f.agent)].append(f)
        for _conv, (_since, channel) in self.waiting.items():
            scopes.setdefault(("all", "all"), [])
            scopes.setdefault(("channel", channel), [])
        rows = []
        for (scope, key), facts in sorted(scopes.items()):
            opened = [f.conversation for f in facts if f.kind == "opened"]
            firsts = [
                f.seconds for f in facts if f.kind == "first_response" and f.seconds is not None
            ]
            waits = [
                f.seconds
                for f in facts
                if f.kind in ("first_response", "reply") and f.seconds is not None
            ]
            answered = sum(1 for c in opened if c in self.first_reply and self.first_reply[c] < now)
            # the latest shift per conversation; every survey answer
            shifts = {
                f.conversation: f.value for f in facts if f.kind == "shift" and f.value is not None
            }
            csat = [f.value for f in facts if f.kind == "csat" and f.value is not None]
            waiting = [
                since
                for since, channel in self.waiting.values()
                if scope == "all" or (scope == "channel" and channel == key)
            ]
            rows.append(
                {
                    "at": now.isoformat(),
                    "window_start": start.isoformat(),
                    "window_end": now.isoformat(),
                    "scope": scope,
                    "key": key,
                    "channel": key if scope == "channel" else None,
                    "team": key if scope == "team" else None,
                    "agent": key if scope == "agent" else None,
                    "received": len(opened),
                    "first_responses": len(firsts),
                    "replied": len(waits),
                    "response_rate": round(answered / len(opened), 4) if opened else None,
                    "first_response_median_s": statistics.median(firsts) if firsts else None,
                    "first_response_p90_s": percentile(firsts, 0.9),
                    "reply_wait_median_s": statistics.median(waits) if waits else None,
                    "reply_wait_p90_s": percentile(waits, 0.9),
                    "backlog": len(waiting) if scope in ("all", "channel") else None,
                    "sentiment_shift_mean": (
                        round(statistics.fmean(shifts.values()), 4) if shifts else None
                    ),
                    "sentiment_shifts": len(shifts),
                    "csat_mean": round(statistics.fmean(csat), 3) if csat else None,
                    "csat_responses": len(csat),
                    "backlog_oldest_s": (
                        max((now - s).total_seconds() for s in waiting)
                        if waiting and scope in ("all", "channel")
                        else None
                    ),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_s": self.window.total_seconds(),
            "facts": [f.to_dict() for f in self.facts],
            "waiting": {c: [s.isoformat(), ch] for c, (s, ch) in self.waiting.items()},
            "first_reply": {c: t.isoformat() for c, t in self.first_reply.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, window: timedelta) -> CareMetrics:
        if not d:
            return cls(window)
        return cls(
            window,
            [Fact.from_dict(f) for f in d["facts"]],
            {c: (datetime.fromisoformat(s), ch) for c, (s, ch) in d["waiting"].items()},
            {c: datetime.fromisoformat(t) for c, t in d["first_reply"].items()},
        )
