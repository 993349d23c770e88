"""Index lifecycle, run by Earful itself: works on any Elasticsearch or OpenSearch build (the
OpenSearch ISM plugin is not in every distribution, and Elasticsearch ILM is a different API).

- Monthly indexes (mentions, rollups, care metrics) are dropped whole once their month ended
  longer ago than the retention: a mention is kept at least as long as its kind's retention,
  and at most a month longer.
- Alerts and the audit trail live in one index each and are pruned by date.

The worker applies it hourly; `earful retention apply --dry-run` shows what it would do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from earful.settings import RetentionSettings
from streams.search.base import Kind, SearchStore

MONTH = re.compile(r"-(\d{4})\.(\d{2})$")


@dataclass(frozen=True)
class Action:
    what: str  # "drop index" | "prune"
    target: str
    detail: str


def month_end(name: str) -> datetime | None:
    m = MONTH.search(name)
    if not m:
        return None
    year, month = int(m[1]), int(m[2])
    return datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)


async def plan(store: SearchStore, keep: RetentionSettings, now: datetime) -> list[Action]:
    actions: list[Action] = []
    monthly: dict[Kind, int] = {
        "mentions": keep.mentions_days,
        "rollups": keep.rollups_days,
        "care-metrics": keep.care_metrics_days,
    }
    for kind, days in monthly.items():
        horizon = now - timedelta(days=days)
        for name in await store.indices(kind):
            end = month_end(name)
            if end is not None and end <= horizon:
                actions.append(
                    Action("drop index", name, f"month ended {end:%Y-%m-%d}, kept {days} days")
                )
    for kind, field, days in (
        ("alerts", "fired_at", keep.alerts_days),
        ("audit", "at", keep.audit_days),
    ):
        horizon = now - timedelta(days=days)
        old = await store.count(kind, {"range": {field: {"lt": horizon.isoformat()}}})
        if old:
            actions.append(Action("prune", kind, f"{old} documents before {horizon:%Y-%m-%d}"))
    return actions


async def apply(
    store: SearchStore, keep: RetentionSettings, now: datetime, *, dry_run: bool = False
) -> list[Action]:
    actions = await plan(store, keep, now)
    if dry_run:
        return actions
    for action in actions:
        if action.what == "drop index":
            await store.delete_index(action.target)
        else:
            kind: Kind = "alerts" if action.target == "alerts" else "audit"
            field, days = (
                ("fired_at", keep.alerts_days) if kind == "alerts" else ("at", keep.audit_days)
            )
            horizon = now - timedelta(days=days)
            await store.delete_by_query(kind, {"range": {field: {"lt": horizon.isoformat()}}})
    return actions
