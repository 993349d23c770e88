"""A report's facts for a period and the one before it, from the search indexes: the brand's
own figures (streams/reports.py), its alert, care and campaign sections
(streams/report_sections.py), and why the numbers may be incomplete. The report itself is
composed and rendered by the pure `reports` package."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.care.policies import CarePolicies
from earful.projects import Project
from reports.config import ReportDefinition
from reports.facts import PeriodFacts, ReportFacts
from reports.periods import Period
from streams.report_sections import alert_facts, campaign_facts, care_facts
from streams.reports import brand_facts, detail_facts
from streams.search.base import SearchStore


async def period_facts(
    store: SearchStore,
    definition: ReportDefinition,
    project: Project,
    period: Period,
    policies: CarePolicies,
) -> PeriodFacts:
    voices = await brand_facts(store, project.brands, period.start, period.end)
    days, posts, topics, terms = await detail_facts(store, project.brand, period, period.previous())
    alerts = await alert_facts(store, project.brand, period.start, period.end)
    care = await care_facts(store, period, policies) if "care" in definition.sections else None
    return PeriodFacts(
        label=period.label,
        start=period.start,
        end=period.end,
        brand=voices[0],
        voices=tuple(voices),
        days=tuple(days),
        top_posts=tuple(posts),
        topics=tuple(topics),
        terms=tuple(terms),
        alerts=tuple(alerts),
        care=care,
    )


async def newest_mention(store: SearchStore) -> datetime | None:
    r = await store.search(
        "mentions", {"size": 0, "aggs": {"last": {"max": {"field": "created_at"}}}}
    )
    value = r.get("aggregations", {}).get("last", {}).get("value_as_string")
    return datetime.fromisoformat(value) if value else None


def completeness(
    current: PeriodFacts, previous: PeriodFacts, data_last: datetime | None, now: datetime
) -> list[str]:
    """Why the numbers may be incomplete, in words the report prints."""
    notes = []
    if now < current.end:
        notes.append(f"The period is still running: figures up to {now:%Y-%m-%d %H:%M} UTC.")
    if data_last is None:
        notes.append("No mentions are indexed yet.")
    elif data_last < min(current.end, now) - timedelta(hours=24):
        notes.append(
            f"The newest indexed mention is from {data_last:%Y-%m-%d %H:%M} UTC, before the period "
            "ends: ingestion may be lagging or stopped."
        )
    had_before = sum(d.mentions for d in previous.days) > 0
    empty = [
        d.day.isoformat()
        for d in current.days
        if d.mentions == 0
        and (
            data_last is None
            or datetime(d.day.year, d.day.month, d.day.day, tzinfo=UTC) < data_last
        )
    ]
    if had_before and empty:
        notes.append(f"No mentions on {', '.join(empty[:7])}: a gap in the data or in collection.")
    return notes


async def fetch_facts(
    store: SearchStore,
    definition: ReportDefinition,
    project: Project,
    period: Period,
    policies: CarePolicies,
    now: datetime,
) -> ReportFacts:
    current = await period_facts(store, definition, project, period, policies)
    previous = await period_facts(store, definition, project, period.previous(), policies)
    if "campaign" in definition.sections:
        current = current.model_copy(
            update={"campaign": await campaign_facts(store, project.brand, definition, period.tz)}
        )
    data_last = await newest_mention(store)
    return ReportFacts(
        current=current,
        previous=previous,
        generated_at=now,
        data_last=data_last,
        incomplete=tuple(completeness(current, previous, data_last, now)),
    )
