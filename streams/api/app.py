"""Earful's HTTP API and dashboard (FastAPI), reading from the search index.

GET  /                         dashboard: brands, volume and sentiment trends, alerts
GET  /search?q=&brand=...      mention search page (alert evidence links land here)
GET  /api/mentions             mention search: query string, filters, sort, cursor, highlights
GET  /api/trends               volume and sentiment over time
GET  /api/alerts               alerts (team, kind, status, brand), with their acknowledgement
POST /api/alerts/{id}/ack      acknowledge (operator)
GET|POST /api/silences         list / create silences (create: operator)
DELETE /api/silences/{id}      expire a silence (operator)
POST /api/mentions/{id}/label  correct a mention's sentiment / topics (operator)
GET  /api/labels, /api/models  corrections; model version and per-language accuracy
GET  /silences/new?matcher=    silence form (the "Silence" link in every notification)
GET  /healthz, /metrics        liveness and search-engine reachability; Prometheus

Reads are open unless `api.public_read` is off; writes need a bearer token (streams/api/auth.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import make_asgi_app

from alerts.care.policies import load_policies
from earful.projects import load_projects
from earful.settings import Settings
from models.topics import load_taxonomy
from streams.api import queries
from streams.api import rollup_queries as rollups
from streams.api.actions import ReadCommands, actions_router
from streams.api.auth import Authenticator, Principal
from streams.api.insight_routes import insight_router, insight_span
from streams.api.label_routes import label_router
from streams.api.limits import BodySizeLimit
from streams.api.report_routes import report_router
from streams.control import ControlPublisher, KafkaControlPublisher, read_commands_async
from streams.labels import KafkaLabelPublisher, LabelPublisher
from streams.search import SearchStore, SearchUnavailable, open_store
from streams.search.base import SearchRejected

#: An optional exact-match filter in the query string (?brand=Skyway%20Air).
Filter = Annotated[str | None, Query()]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def create_api(
    settings: Settings,
    store: SearchStore | None = None,
    control: ControlPublisher | None = None,
    commands: ReadCommands | None = None,
    labels: LabelPublisher | None = None,
) -> FastAPI:
    state: dict[str, SearchStore] = {}
    publisher = control or KafkaControlPublisher(settings)
    auth = Authenticator(settings.api)
    projects = load_projects(settings.projects_file)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state["store"] = store or await open_store(settings.search)
        await state["store"].ensure_setup()
        yield
        if store is None:
            await state["store"].close()

    api = FastAPI(
        title="Earful",
        version="0.1.0",
        lifespan=lifespan,
        description="Social listening: mentions, trends, alerts and silences. Reads may be "
        "public; writes need `Authorization: Bearer <token>` with the operator role.",
    )
    api.add_middleware(BodySizeLimit, max_bytes=settings.api.max_body_bytes)
    if settings.api.cors_origins:
        api.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    api.mount("/metrics", make_asgi_app())
    api.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")

    def db() -> SearchStore:
        return state["store"]

    def reader(request: Request) -> Principal:
        return auth.check(request, "viewer")

    may_read = Depends(reader)

    api.include_router(
        insight_router(db, projects, load_policies(settings.care_policies_file), may_read)
    )
    api.include_router(report_router(settings, may_read))
    api.include_router(
        label_router(
            settings.api,
            db,
            labels or KafkaLabelPublisher(settings),
            may_read,
            load_taxonomy(settings.model.taxonomy),
        )
    )
    api.include_router(
        actions_router(
            settings.api,
            db,
            publisher,
            commands or (lambda: read_commands_async(settings)),
        )
    )

    @api.exception_handler(SearchRejected)
    async def rejected(_: Request, exc: SearchRejected) -> JSONResponse:
        return JSONResponse({"detail": f"invalid query: {exc}"}, status_code=400)

    @api.exception_handler(OverflowError)
    async def overflow(_: Request, exc: OverflowError) -> JSONResponse:
        return JSONResponse({"detail": f"out of range: {exc}"}, status_code=422)

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
        *,
        sort: str = "time",
        cursor: str | None = None,
        min_reach: int | None = None,
        highlight: bool = False,
    ) -> dict[str, Any]:
        try:
            after = queries.decode_cursor(cursor) if cursor else None
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        query = queries.mention_query(q, start=start, end=end, min_reach=min_reach, **filters)
        body = queries.search_body(
            query,
            size=size,
            sort=queries.SORTS[sort],
            search_after=after,
            highlight=highlight and bool(q),
        )
        result = await search_or_400(body)
        aggs = result.get("aggregations", {})
        hits = result["hits"]["hits"]
        rows = []
        for h in hits:
            row = dict(h["_source"])
            if "highlight" in h:
                row["highlight"] = h["highlight"].get("text", [""])[0]
            rows.append(row)
        total = result["hits"].get("total")
        return {
            "total": total["value"] if isinstance(total, dict) else None,
            "hits": rows,
            "next_cursor": queries.encode_cursor(hits[-1]["sort"]) if len(hits) == size else None,
            "facets": {
                name: queries.bucket_counts(aggs.get(name, {}))
                for name in ("sentiment", "brands", "topics", "langs", "platforms")
            },
        }

    async def search_or_400(body: dict[str, Any]) -> dict[str, Any]:
        # a query the engine refuses (a malformed query string) raises SearchRejected: 400
        return await db().search("mentions", body)

    @api.get("/api/mentions")
    async def mentions(
        _: Principal = may_read,
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
        sort: Annotated[str, Query(pattern="^(time|reach|engagement)$")] = "time",
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
        min_reach: Annotated[int | None, Query(ge=0)] = None,
        highlight: bool = True,
    ) -> dict[str, Any]:
        """Mentions matching a query string (Lucene syntax: `delay* AND NOT refund`) and
        filters, newest (or most reached / engaged) first. Pass `next_cursor` back as `cursor`
        for the next page (later pages carry hits only: the total and facets are on the first).
        A malformed query is a 400 that says where it failed."""
        filters = {
            "brand": brand,
            "sentiment": sentiment,
            "lang": lang,
            "platform": platform,
            "topic": topic,
            "hashtag": hashtag,
        }
        return await search_mentions(
            q,
            filters,
            start,
            end,
            size,
            sort=sort,
            cursor=cursor,
            min_reach=min_reach,
            highlight=highlight,
        )

    @api.get("/api/trends")
    async def trends(
        _: Principal = may_read,
        brand: Filter = None,
        topic: Filter = None,
        q: str | None = None,
        interval: Annotated[str, Query(pattern=r"^\d+[mhd]$")] = "1h",
        start: datetime | None = None,
        end: datetime | None = None,
        source: Annotated[str, Query(pattern="^(auto|rollups|mentions)$")] = "auto",
    ) -> dict[str, Any]:
        """Volume, sentiment mix, reach and engagement per interval. Long spans come from the
        trend rollups (`source=auto`); a query string always needs the mention index."""
        filters = rollups.rollup_filters(
            start,
            end,
            rollups.interval_seconds(interval),
            brands=[brand] if brand else None,
            topic=topic,
        )
        if not q and filters and await rollups.use_rollups(db(), source, start, end, interval):
            result = await db().search("rollups", rollups.rollup_trend_body(filters, interval))
            points = rollups.read_rollup_trend(result)
            return {"interval": interval, "source": "rollups", "points": points}
        query = queries.mention_query(q, start=start, end=end, brand=brand, topic=topic)
        result = await search_or_400(queries.trend_body(query, interval))
        return {"interval": interval, "source": "mentions", "points": queries.trend_points(result)}

    @api.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request) -> HTMLResponse:
        """The dashboard shell (team views, pickers); its panels read the JSON API. The project
        names are written into the page only for callers who may read."""
        try:
            auth.check(request, "viewer")
            allowed = True
        except HTTPException:
            allowed = False
        shown = [
            {"name": p.name, "label": p.label, "brand": p.brand, "brands": list(p.brands)}
            for p in projects.projects
        ]
        boot = {
            "projects": shown if allowed else [],
            "data": await insight_span(db()) if allowed else {},
            "engine": db().engine,
        }
        return TEMPLATES.TemplateResponse(
            request, "app.html", {"projects": boot["projects"], "boot": boot}
        )

    @api.get("/search", response_class=HTMLResponse)
    async def search_page(
        request: Request,
        _: Principal = may_read,
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

    return api
