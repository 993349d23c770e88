"""Earful's HTTP API and dashboard (FastAPI), reading from the search index.

GET /                      dashboard: brands, volume and sentiment trends, recent alerts
GET /search?q=&brand=...   mention search page (alert evidence links land here)
GET /api/mentions          mention search (JSON), filters + query string + paging
GET /api/trends            volume and sentiment over time
GET /api/alerts            recent alerts
GET /healthz               liveness and search-engine reachability
GET /silences/new?matcher= silence form (the "Silence" link in every notification)
POST /api/silences         create a silence: {matchers, duration, created_by, comment}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from alerts.rules import parse_duration
from earful.settings import Settings
from streams.api import queries
from streams.api.charts import sparkline
from streams.control import ControlPublisher, KafkaControlPublisher, silence_command
from streams.search import SearchStore, SearchUnavailable, open_store

#: An optional exact-match filter in the query string (?brand=Skyway%20Air).
Filter = Annotated[str | None, Query()]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.globals["sparkline"] = sparkline


class SilenceRequest(BaseModel):
    matchers: list[str] = Field(min_length=1, examples=[["brand=Skyway Air", "kind=volume_spike"]])
    duration: str = Field(default="2h", examples=["30m", "2h", "1d"])
    created_by: str = ""
    comment: str = ""


def create_api(
    settings: Settings,
    store: SearchStore | None = None,
    control: ControlPublisher | None = None,
) -> FastAPI:
    state: dict[str, SearchStore] = {}
    publisher = control or KafkaControlPublisher(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["store"] = store or await open_store(settings.search)
        await state["store"].ensure_setup()
        yield
        if store is None:
            await state["store"].close()

    api = FastAPI(title="Earful", version="0.1.0", lifespan=lifespan)

    def db() -> SearchStore:
        return state["store"]

    @api.exception_handler(SearchUnavailable)
    async def unavailable(_: Request, exc: SearchUnavailable) -> JSONResponse:
        return JSONResponse({"error": f"search engine unavailable: {exc}"}, status_code=503)

    @api.get("/healthz")
    async def health() -> dict[str, Any]:
        return {"ok": True, "engine": db().engine, "mentions": await db().count("mentions")}

    async def search_mentions(
        q: str | None,
        filters: dict[str, str | None],
        start: datetime | None,
        end: datetime | None,
        size: int,
    ) -> dict[str, Any]:
        query = queries.mention_query(q, start=start, end=end, **filters)
        try:
            result = await db().search("mentions", queries.search_body(query, size=size))
        except SearchUnavailable:
            raise
        except Exception as exc:  # a malformed user query string: say so, do not 500
            raise HTTPException(400, f"invalid query: {exc}") from None
        aggs = result.get("aggregations", {})
        return {
            "total": result["hits"]["total"]["value"],
            "hits": [h["_source"] for h in result["hits"]["hits"]],
            "facets": {
                name: queries.bucket_counts(aggs.get(name, {}))
                for name in ("sentiment", "brands", "topics", "langs", "platforms")
            },
        }

    @api.get("/api/mentions")
    async def mentions(
        q: str | None = None,
        brand: Filter = None,
        sentiment: Filter = None,
        lang: Filter = None,
        platform: Filter = None,
        topic: Filter = None,
        hashtag: Filter = None,
        start: datetime | None = None,
        end: datetime | None = None,
        size: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        filters = {
            "brand": brand,
            "sentiment": sentiment,
            "lang": lang,
            "platform": platform,
            "topic": topic,
            "hashtag": hashtag,
        }
        return await search_mentions(q, filters, start, end, size)

    @api.get("/api/trends")
    async def trends(
        brand: Filter = None,
        topic: Filter = None,
        q: str | None = None,
        interval: Annotated[str, Query(pattern=r"^\d+[mhd]$")] = "1h",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> dict[str, Any]:
        query = queries.mention_query(q, start=start, end=end, brand=brand, topic=topic)
        result = await db().search("mentions", queries.trend_body(query, interval))
        return {"interval": interval, "points": queries.trend_points(result)}

    @api.get("/api/alerts")
    async def alerts(
        brand: Filter = None, status: Filter = None, size: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> dict[str, Any]:
        return {"alerts": await recent_alerts(db(), brand=brand, status=status, size=size)}

    @api.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request) -> HTMLResponse:
        overview = await db().search("mentions", queries.overview_body())
        aggs = overview.get("aggregations", {})
        brands = []
        for b in aggs.get("brands", {}).get("buckets", []):
            trend = await db().search(
                "mentions", queries.trend_body(queries.mention_query(brand=b["key"]), "1h")
            )
            brands.append(
                {
                    "name": b["key"],
                    "count": b["doc_count"],
                    "mix": queries.bucket_counts(b["sentiment"]),
                    "score": b["score"]["value"],
                    "topics": queries.bucket_counts(b["topics"]),
                    "trend": queries.trend_points(trend),
                }
            )
        return TEMPLATES.TemplateResponse(
            request,
            "dashboard.html",
            {
                "brands": brands,
                "alerts": await recent_alerts(db(), size=20),
                "care": await latest_care_metrics(db()),
                "first": aggs.get("first", {}).get("value_as_string"),
                "last": aggs.get("last", {}).get("value_as_string"),
                "engine": db().engine,
            },
        )

    @api.get("/search", response_class=HTMLResponse)
    async def search_page(
        request: Request,
        q: str | None = None,
        brand: Filter = None,
        sentiment: Filter = None,
        topic: Filter = None,
        lang: Filter = None,
    ) -> HTMLResponse:
        filters = {"brand": brand, "sentiment": sentiment, "topic": topic, "lang": lang}
        try:
            result = await search_mentions(q, filters, None, None, 100)
            error = None
        except HTTPException as exc:
            result, error = {"total": 0, "hits": [], "facets": {}}, exc.detail
        return TEMPLATES.TemplateResponse(
            request,
            "search.html",
            {"q": q or "", "filters": filters, "result": result, "error": error},
        )

    @api.get("/silences/new", response_class=HTMLResponse)
    async def silence_form(
        request: Request, matcher: Annotated[list[str] | None, Query()] = None
    ) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request, "silence_new.html", {"matchers": "\n".join(matcher or [])}
        )

    @api.post("/api/silences", status_code=201)
    async def create_silence(body: SilenceRequest) -> dict[str, Any]:
        try:
            command = silence_command(
                body.matchers,
                parse_duration(body.duration),
                datetime.now(UTC),
                body.created_by,
                body.comment,
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        await publisher.publish(command)
        return command

    return api


async def recent_alerts(
    store: SearchStore, *, brand: str | None = None, status: str | None = None, size: int = 50
) -> list[dict[str, Any]]:
    must = [{"term": {k: v}} for k, v in (("brand", brand), ("status", status)) if v]
    body = {"query": {"bool": {"filter": must}}, "size": size, "sort": [{"fired_at": "desc"}]}
    result = await store.search("alerts", body)
    return [h["_source"] for h in result["hits"]["hits"]]


async def latest_care_metrics(store: SearchStore) -> list[dict[str, Any]]:
    """The newest care snapshot: overall and per channel (empty when no inbox flows)."""
    newest = await store.search("care-metrics", {"size": 1, "sort": [{"at": "desc"}]})
    hits = newest["hits"]["hits"]
    if not hits:
        return []
    at = hits[0]["_source"]["at"]
    rows = await store.search(
        "care-metrics",
        {
            "size": 50,
            "query": {
                "bool": {"filter": [{"term": {"at": at}}, {"terms": {"scope": ["all", "channel"]}}]}
            },
        },
    )
    return sorted(
        (h["_source"] for h in rows["hits"]["hits"]), key=lambda r: (r["scope"] != "all", r["key"])
    )
