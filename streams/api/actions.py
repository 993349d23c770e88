"""Alerts, acknowledgements and silences over HTTP — the API's writes.

Every write needs an operator token, goes to the router as a typed command on the `control`
topic (the worker applies it; see alerts/routing/commands.py), and is recorded in the audit
index with who did it and why. Silences that would mute everything, or last longer than
`api.max_silence`, are refused unless an admin forces them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from alerts.routing.commands import (
    AckCommand,
    ControlCommand,
    ExpireSilenceCommand,
    silence_command,
    silences_from,
    too_broad,
)
from earful.settings import ApiSettings, Role
from earful.types import format_duration, parse_duration
from streams.api.auth import Authenticator, Principal
from streams.control import ControlPublisher
from streams.search.base import Doc, SearchStore

ReadCommands = Callable[[], Awaitable[list[tuple[datetime, ControlCommand]]]]

#: Which team reads which kind of alert, for alerts that carry no `team` label.
TEAM_OF_KIND = {
    "volume_spike": "pr",
    "sentiment_dip": "pr",
    "crisis": "pr",
    "trending_topic": "product",
    "emerging_term": "product",
    "sla_warning": "care",
    "sla_breach": "care",
}


class SilenceRequest(BaseModel):
    matchers: list[str] = Field(
        min_length=1, max_length=20, examples=[["brand=Skyway Air", "kind=volume_spike"]]
    )
    duration: str = Field(default="2h", max_length=16, examples=["30m", "2h", "1d"])
    #: Kept for older clients; who created a silence is the token's name.
    created_by: str = Field(default="", max_length=200)
    comment: str = Field(default="", max_length=2000, description="Why (kept in the audit)")
    #: Create it even if it matches everything or outlasts api.max_silence (admin only).
    force: bool = False


class ActionRequest(BaseModel):
    comment: str = Field(default="", max_length=2000, description="Why (kept in the audit)")


def team_of(alert: dict[str, Any]) -> str:
    labels = alert.get("labels") or {}
    team = labels.get("team") or TEAM_OF_KIND.get(alert.get("kind", ""), "")
    if not team and str(alert.get("kind", "")).startswith(("first_response", "reply", "care")):
        team = "care"
    return str(team or "other")


def actions_router(
    settings: ApiSettings,
    db: Callable[[], SearchStore],
    publisher: ControlPublisher,
    read_commands: ReadCommands,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    auth = Authenticator(settings)
    router = APIRouter(tags=["alerts"])

    def role(needed: Role) -> Any:
        def dependency(request: Request) -> Principal:
            return auth.check(request, needed)

        return Depends(dependency)

    viewer, operator = role("viewer"), role("operator")

    async def audit(
        who: Principal,
        action: str,
        target: str,
        reason: str,
        details: dict[str, Any],
        *,
        forced: bool = False,
    ) -> None:
        doc = {
            "at": clock().isoformat(),
            "actor": who.name,
            "role": who.role,
            "action": action,
            "target": target,
            "reason": reason,
            "forced": forced,
            "details": details,
        }
        await db().bulk_index("audit", [Doc(uuid.uuid4().hex, doc)])
        await db().refresh("audit")

    async def acks_for(fingerprints: list[str]) -> dict[str, dict[str, Any]]:
        if not fingerprints:
            return {}
        found = await db().search(
            "audit",
            {
                "size": len(fingerprints) * 2,
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"action": "ack"}},
                            {"terms": {"target": fingerprints}},
                        ]
                    }
                },
                "sort": [{"at": "asc"}],
            },
        )
        out = {}
        for hit in found["hits"]["hits"]:
            src = hit["_source"]
            out[src["target"]] = {"by": src["actor"], "at": src["at"], "comment": src["reason"]}
        return out

    @router.get("/api/alerts")
    async def alerts(
        _: Principal = viewer,
        brand: str | None = None,
        status: Annotated[str | None, Query(pattern="^(firing|resolved)$")] = None,
        kind: str | None = None,
        team: str | None = None,
        severity: Annotated[str | None, Query(pattern="^(info|warning|critical)$")] = None,
        order: Annotated[str, Query(pattern="^(time|priority)$")] = "time",
        size: Annotated[int, Query(ge=1, le=500)] = 50,
        latest: bool = False,
    ) -> dict[str, Any]:
        """Alert notices, newest first; `order=priority` puts firing critical ones first.
        `team` is the alert's team label, or the team that reads its kind.

        `latest`: each alert once, as its newest notice says it is now (an alert that fired
        and then resolved is listed resolved, not firing with an Acknowledge button), with
        `began_at`, when the firing notice before a resolution went out. The team views
        ask for this; without it every notice is listed (the history)."""
        must: list[dict[str, Any]] = [
            {"term": {k: v}}
            for k, v in (
                ("brand", brand),
                ("status", status),
                ("kind", kind),
                ("severity", severity),
            )
            if v
        ]
        if team:
            kinds = [k for k, t in TEAM_OF_KIND.items() if t == team]
            must.append(
                {
                    "bool": {
                        "should": [{"term": {"team": team}}]
                        + ([{"terms": {"kind": kinds}}] if kinds else [])
                        + (
                            [{"prefix": {"kind": p}} for p in ("first_response", "reply", "care")]
                            if team == "care"
                            else []
                        ),
                        "minimum_should_match": 1,
                    }
                }
            )
        sort: list[Any] = [{"fired_at": "desc"}]
        fetch = size if order == "time" else min(500, size * 5)
        body: dict[str, Any] = {"query": {"bool": {"filter": must}}, "size": fetch, "sort": sort}
        if latest:  # the newest notice of each fingerprint, and the one before it
            body["collapse"] = {
                "field": "fingerprint",
                "inner_hits": {
                    "name": "before",
                    "size": 2,
                    "sort": [{"fired_at": "desc"}],
                    "_source": ["status", "fired_at"],
                },
            }
        result = await db().search("alerts", body)
        rows = []
        for hit in result["hits"]["hits"]:
            row = hit["_source"]
            if latest:
                before = hit.get("inner_hits", {}).get("before", {})
                earlier = [n["_source"] for n in before.get("hits", {}).get("hits", [])[1:]]
                if row.get("status") == "resolved" and earlier:
                    row["began_at"] = earlier[0].get("fired_at")
            rows.append(row)
        if order == "priority":
            rank = {"critical": 0, "warning": 1, "info": 2}
            rows.sort(
                key=lambda a: (a.get("status") != "firing", rank.get(a.get("severity", ""), 3))
            )
            rows = rows[:size]
        acks = await acks_for(sorted({a["fingerprint"] for a in rows}))
        for row in rows:
            row["team"] = team_of(row)
            row["acknowledged"] = acks.get(row["fingerprint"])
        return {"alerts": rows}

    @router.post("/api/alerts/{alert_id}/ack")
    async def ack(
        alert_id: str,
        body: ActionRequest,
        who: Principal = operator,
    ) -> dict[str, Any]:
        """Acknowledge an alert (by notice id or fingerprint): it will not escalate."""
        found = await db().search(
            "alerts",
            {
                "size": 1,
                "query": {
                    "bool": {
                        "should": [
                            {"term": {"id": alert_id}},
                            {"term": {"fingerprint": alert_id}},
                        ],
                        "minimum_should_match": 1,
                    }
                },
            },
        )
        hits = found["hits"]["hits"]
        if not hits:
            raise HTTPException(404, f"no alert {alert_id!r}")
        fingerprint = hits[0]["_source"]["fingerprint"]
        command = AckCommand(fingerprint=fingerprint, by=who.name, comment=body.comment)
        await publisher.publish(command)
        await audit(who, "ack", fingerprint, body.comment, {"alert": alert_id})
        return {"fingerprint": fingerprint, "acknowledged_by": who.name}

    async def current_silences() -> list[dict[str, Any]]:
        silences = silences_from(await read_commands())
        now = clock()  # after reading: an expiry Kafka just took must already count
        out = []
        for s in silences.values():
            row = s.to_dict()
            row["state"] = (
                "active" if s.active(now) else ("pending" if now < s.starts_at else "expired")
            )
            out.append(row)
        return sorted(out, key=lambda r: r["ends_at"], reverse=True)

    @router.get("/api/silences")
    async def list_silences(
        _: Principal = viewer,
        state: Annotated[str, Query(pattern="^(active|all)$")] = "active",
    ) -> dict[str, Any]:
        """Silences as the router holds them (rebuilt from the control topic)."""
        rows = await current_silences()
        if state == "active":
            rows = [r for r in rows if r["state"] != "expired"]
        return {"silences": rows}

    @router.post("/api/silences", status_code=201)
    async def create_silence(body: SilenceRequest, who: Principal = operator) -> dict[str, Any]:
        try:
            duration = parse_duration(body.duration)
            command = silence_command(body.matchers, duration, clock(), who.name, body.comment)
        except ValueError as exc:
            raise HTTPException(422, _first_error(exc)) from None
        problems = []
        broad = too_broad(command.parsed())
        if broad:
            problems.append(broad)
        if duration > settings.max_silence:
            problems.append(
                f"a silence of {format_duration(duration)} is longer than the "
                f"{format_duration(settings.max_silence)} allowed (api.max_silence)"
            )
        if problems and not body.force:
            raise HTTPException(
                422, "; ".join(problems) + " — an admin may create it anyway with force=true"
            )
        if problems and not who.may("admin"):
            raise HTTPException(403, "; ".join(problems) + " — only an admin may force it")
        await publisher.publish(command)
        await audit(
            who,
            "silence",
            command.id,
            body.comment,
            {"matchers": list(command.matchers), "duration_s": duration.total_seconds()},
            forced=bool(problems),
        )
        return command.model_dump(mode="json", exclude_none=True)

    @router.delete("/api/silences/{silence_id}")
    async def expire_silence(
        silence_id: str,
        who: Principal = operator,
        comment: Annotated[str, Query(max_length=2000)] = "",
    ) -> dict[str, Any]:
        """End a silence now."""
        known = {r["id"]: r for r in await current_silences()}
        if silence_id not in known:
            raise HTTPException(404, f"no silence {silence_id!r}")
        await publisher.publish(ExpireSilenceCommand(id=silence_id, by=who.name, comment=comment))
        await audit(who, "expire_silence", silence_id, comment, {})
        return {"id": silence_id, "expired_by": who.name}

    @router.get("/api/whoami")
    async def whoami(who: Principal = viewer) -> dict[str, Any]:
        """Who the presented token is (the page shows operator actions only to operators)."""
        return {"name": who.name, "role": who.role, "writes_enabled": bool(settings.tokens)}

    @router.get("/api/audit")
    async def audit_log(
        _: Principal = operator,
        size: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Who did what through the API, newest first."""
        result = await db().search("audit", {"size": size, "sort": [{"at": "desc"}]})
        return {"entries": [h["_source"] for h in result["hits"]["hits"]]}

    return router


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", e)).removeprefix("Value error, ") for e in errors())
    return str(exc)
