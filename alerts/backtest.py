"""Backtesting a rule set over history: what would have fired, when, and how often.

What ElastAlert's `elastalert-test-rule` and Kibana's rule preview give their users before they
trust a rule: scored mentions from the past (the search index or a JSON-lines file) go through
the same detection driver the worker runs (alerts/driver.py, via `Replayer`), in event time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.engine import DetectionEngine
from alerts.replay import Replayer, observations_from_dict
from alerts.rules import RuleSet
from earful.records import Alert


@dataclass
class Backtest:
    rules: RuleSet
    start: datetime
    end: datetime
    brands: frozenset[str] = frozenset()
    alerts: list[Alert] = field(default_factory=list)
    mentions: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        self.replayer = Replayer(DetectionEngine(self.rules))

    def feed(self, mentions: Iterable[Mapping[str, Any]]) -> None:
        """Scored mention documents, oldest first; those outside the period or the brands
        asked for are left out."""
        observations = []
        for m in mentions:
            try:
                found = observations_from_dict(dict(m))
            except (ValueError, KeyError, TypeError, AttributeError):
                self.skipped += 1
                continue
            if not found or not self.start <= found[0].at < self.end:
                continue
            if self.brands:
                found = [o for o in found if o.brand in self.brands]
            if found:
                self.mentions += 1
                observations += found
        self.alerts += self.replayer.feed(observations)

    def finish(self) -> None:
        self.alerts += self.replayer.finish()

    @property
    def firing(self) -> list[Alert]:
        """The first notice of each episode: what would have paged someone."""
        seen: set[tuple[str, datetime]] = set()
        out = []
        for a in sorted(self.alerts, key=lambda a: a.fired_at):
            key = (a.fingerprint, a.started_at or a.fired_at)
            if a.status == "firing" and key not in seen:
                seen.add(key)
                out.append(a)
        return out

    def per_week(self) -> dict[str, Counter[str]]:
        """Episodes per rule and ISO week ("2026-W44")."""
        weeks: dict[str, Counter[str]] = {}
        for a in self.firing:
            year, week, _ = a.fired_at.isocalendar()
            weeks.setdefault(a.rule, Counter())[f"{year}-W{week:02d}"] += 1
        return weeks
