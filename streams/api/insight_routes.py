"""The insight endpoints: projects, share of voice, emerging terms and topics, care times.

Every endpoint answers a malformed parameter with 4xx (never 500) and works the same on
Elasticsearch and OpenSearch (plain aggregations only).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from alerts.care.policies import CarePolicies
from earful.projects import Project, Projects
from earful.types import parse_duration
from streams.api import insights, rollup_queries
from streams.api.auth import Principal
from streams.search.base import SearchStore

Interval = Annotated[str, Query(pattern=r"^\d+[mhd]$")]


async def insight_span(
    store: SearchStore, brands: list[str] | None = None
) -> dict[str, str | None]:
    """When the data starts and ends (the dashboard's "all data" range and "now")."""
    query = {"terms": {"brands": brands}} if brands else {"match_all": {}}
    result = await store.search(
        "mentions",
        {
            "size": 0,
            "query": query,
            "aggs": {
                "first": {"min": {"field": "created_at"}},
                "last": {"max": {"field": "created_at"}},
            },
        },
    )
    aggs = result.get("aggregations", {})
    return {
        "first": aggs.get("first", {}).get("value_as_string"),
        "last": aggs.get("last", {}).get("value_as_string"),
    }


def insight_router(
    db: Callable[[], SearchStore],
    projects: Projects,
    care: CarePolicies,
    may_read: Any,
) -> APIRouter:
    router = APIRouter(tags=["insights"])

    def project_of(name: str | None) -> Project:
        try:
            return projects.get(name)
        except KeyError:
            known = ", ".join(p.name for p in projects.projects)
            raise HTTPException(404, f"no project {name!r} (known: {known})") from None

    async def data_range(brands: list[str] | None = None) -> dict[str, str | None]:
        return await insight_span(db(), brands)

    @router.get("/api/projects")
    async def list_projects(_: Principal = may_read) -> dict[str, Any]:
        """The listening projects (brand, competitors, teams) and the time span of the data."""
        return {
            "projects": [
                {**p.model_dump(mode="json"), "label": p.label, "brands": list(p.brands)}
                for p in projects.projects
            ],
            "data": await data_range(),
        }

    @router.get("/api/share-of-voice")
    async def share_of_voice(
        _: Principal = may_read,
        project: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        interval: Interval = "1d",
        source: Annotated[str, Query(pattern="^(auto|rollups|mentions)$")] = "auto",
    ) -> dict[str, Any]:
        """The project's brand against its competitors: mentions, share, net sentiment
        ((positive − negative) / all), reach and engagement, in total and per interval.
        Long spans come from the trend rollups (`source=auto`)."""
        p = project_of(project)
        if await rollup_queries.use_rollups(db(), source, start, end, interval):
            body = rollup_queries.rollup_sov_body(
                p.brands, start, end, interval, rollup_queries.interval_seconds(interval)
            )
            result = await db().search("rollups", body)
            answer = rollup_queries.read_rollup_sov(p.brands, result)
            return {"project": p.name, "interval": interval, "source": "rollups", **answer}
        body = insights.share_of_voice_body(p.brands, start, end, interval)
        result = await db().search("mentions", body)
        answer = insights.read_share_of_voice(p.brands, result)
        return {"project": p.name, "interval": interval, "source": "mentions", **answer}

    @router.get("/api/topics")
    async def topics(
        _: Principal = may_read,
        project: str | None = None,
        brand: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        interval: Interval = "1h",
        size: Annotated[int, Query(ge=1, le=30)] = 8,
    ) -> dict[str, Any]:
        """The top topics of a brand (or all brands) and their mentions per interval."""
        target = brand or (project_of(project).brand if project else None)
        body = insights.topics_body(target, start, end, interval, size)
        return {"brand": target, **insights.read_topics(await db().search("mentions", body))}

    @router.get("/api/trends/emerging")
    async def emerging(
        _: Principal = may_read,
        project: str | None = None,
        brand: str | None = None,
        window: Annotated[str, Query(pattern=r"^\d+[mhd]$")] = "24h",
        background: Annotated[str, Query(pattern=r"^\d+[mhdw]$")] = "7d",
        end: datetime | None = None,
        size: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> dict[str, Any]:
        """Terms and topics rising in the last `window` against the `background` before it,
        with example posts. `end` defaults to the newest mention (so a replayed history reads
        as if it were now)."""
        target = brand or (project_of(project).brand if project else None)
        if end is None:
            last = (await data_range([target] if target else None))["last"]
            end = datetime.fromisoformat(last) if last else datetime.now(UTC)
        if end.tzinfo is None:
            raise HTTPException(422, "end needs a time zone, e.g. 2026-11-18T12:00:00Z")
        w, bg = parse_duration(window), parse_duration(background)
        body = insights.emerging_body(target, end, w.total_seconds(), bg.total_seconds(), size)
        result = await db().search("mentions", body)
        found = insights.read_emerging(result, size=size)
        for term in found["terms"]:
            examples = insights.term_examples_body(term["term"], target, end, w.total_seconds())
            hits = (await db().search("mentions", examples))["hits"]["hits"]
            term["examples"] = [h["_source"] for h in hits]
        return {
            "brand": target,
            "end": end.isoformat(),
            "window": window,
            "background": background,
            **found,
        }

    @router.get("/api/care/response-times")
    async def response_times(
        _: Principal = may_read,
        start: datetime | None = None,
        end: datetime | None = None,
        channel: str | None = None,
        size: Annotated[int, Query(ge=1, le=2000)] = 500,
    ) -> dict[str, Any]:
        """Care metrics over time (first reply and reply wait medians and p90, response rate,
        backlog) for all channels or one, with the SLA targets they are judged against."""
        scope = "channel" if channel else "all"
        result = await db().search(
            "care-metrics", insights.care_body(start, end, scope, channel, size)
        )
        return {
            "scope": channel or "all channels",
            "sla": [
                {
                    "name": policy.name,
                    "metric": policy.metric,
                    "within_s": policy.within.total_seconds(),
                    "business_hours": policy.business_hours,
                    "priority": policy.priority,
                }
                for policy in care.policies
            ],
            "points": insights.read_care(result),
        }

    return router
