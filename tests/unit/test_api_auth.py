"""API security without services: tokens and roles, silence guards, audit, body limits.

The search store and the control topic are small fakes here; tests/integration/test_api.py
runs the same endpoints against the real OpenSearch and Kafka."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from earful.settings import Settings
from streams.api.app import create_api
from streams.search.base import BulkResult

OPERATOR = "op-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789ab"
ADMIN = "admin-token-0123456789abc"
TOKENS = json.dumps(
    [
        {"name": "ann", "token": OPERATOR, "role": "operator"},
        {"name": "vic", "token": VIEWER, "role": "viewer"},
        {"name": "root", "token": ADMIN, "role": "admin"},
    ]
)
ALERT = {
    "id": "fp1:firing:1763388000",
    "fingerprint": "fp1",
    "kind": "volume_spike",
    "brand": "Skyway Air",
    "status": "firing",
    "severity": "critical",
    "fired_at": "2026-11-17T14:00:00+00:00",
    "labels": {},
}


class Store:
    engine = "fake"

    def __init__(self) -> None:
        self.audit: list[dict[str, Any]] = []

    async def ensure_setup(self) -> None: ...
    async def close(self) -> None: ...
    async def refresh(self, kind: str) -> None: ...

    async def count(self, kind: str, query: Any = None) -> int:
        return 0

    async def bulk_index(self, kind: str, docs: Any) -> BulkResult:
        assert kind == "audit"
        self.audit += [d.body for d in docs]
        return BulkResult(len(docs), [])

    async def search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        if kind == "alerts":
            wanted = str(body["query"])
            rows = [ALERT] if ("fp1" in wanted or "filter" in wanted) else []
        elif kind == "audit":
            rows = list(self.audit)
        hits = [{"_source": r, "sort": [0, r.get("id", "")]} for r in rows]
        return {"hits": {"total": {"value": len(hits)}, "hits": hits}}


class Control:
    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, command: Any) -> None:
        self.published.append(command)

    async def read(self) -> list[tuple[datetime, Any]]:
        return [(datetime.now(UTC), c) for c in self.published]


@pytest.fixture()
def client(monkeypatch):
    clients: list[TestClient] = []

    def make(**env: str) -> tuple[TestClient, Store, Control]:
        for key in [k for k in os.environ if k.startswith("EARFUL_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        store, control = Store(), Control()
        api = create_api(Settings(), store=store, control=control, commands=control.read)  # type: ignore[arg-type]
        http = TestClient(api)
        http.__enter__()  # runs the lifespan (opens the store)
        clients.append(http)
        return http, store, control

    yield make
    for http in clients:
        http.__exit__(None, None, None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


SILENCE = {"matchers": ["brand=Skyway Air"], "duration": "2h", "comment": "statement is out"}


def test_without_tokens_reads_work_and_writes_say_how_to_configure(client):
    http, _, control = client()
    assert http.get("/api/alerts").status_code == 200
    refused = http.post("/api/silences", json=SILENCE)
    assert refused.status_code == 403 and "earful api-token" in refused.json()["detail"]
    assert control.published == []


def test_roles(client):
    http, store, control = client(EARFUL_API__TOKENS=TOKENS)
    missing = http.post("/api/silences", json=SILENCE)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert http.post("/api/silences", json=SILENCE, headers=bearer("x" * 24)).status_code == 401
    viewer = http.post("/api/silences", json=SILENCE, headers=bearer(VIEWER))
    assert viewer.status_code == 403 and "viewer role" in viewer.json()["detail"]
    made = http.post("/api/silences", json=SILENCE, headers=bearer(OPERATOR))
    assert made.status_code == 201, made.text
    assert made.json()["created_by"] == "ann"  # who: the token, not a form field
    [command] = control.published
    assert command.id == made.json()["id"]
    [entry] = store.audit
    assert entry["actor"] == "ann" and entry["action"] == "silence"
    assert entry["reason"] == "statement is out" and entry["forced"] is False


def test_silences_that_mute_everything_or_too_long_need_an_admin(client):
    http, store, control = client(EARFUL_API__TOKENS=TOKENS, EARFUL_API__MAX_SILENCE="1d")
    everything = {"matchers": ["brand=~.*"], "duration": "1h"}
    refused = http.post("/api/silences", json=everything, headers=bearer(OPERATOR))
    assert refused.status_code == 422 and "matches every alert" in refused.json()["detail"]
    long = {"matchers": ["brand=Skyway Air"], "duration": "30d"}
    refused = http.post("/api/silences", json=long, headers=bearer(OPERATOR))
    assert refused.status_code == 422 and "longer than the 1d allowed" in refused.json()["detail"]
    forced_by_operator = http.post(
        "/api/silences", json={**long, "force": True}, headers=bearer(OPERATOR)
    )
    assert forced_by_operator.status_code == 403
    assert control.published == []
    forced = http.post("/api/silences", json={**everything, "force": True}, headers=bearer(ADMIN))
    assert forced.status_code == 201
    assert store.audit[-1]["forced"] is True and store.audit[-1]["actor"] == "root"


def test_ack_list_and_expire(client):
    http, store, control = client(EARFUL_API__TOKENS=TOKENS)
    assert http.post("/api/alerts/nope/ack", json={}, headers=bearer(OPERATOR)).status_code == 404
    acked = http.post(
        "/api/alerts/fp1:firing:1763388000/ack", json={"comment": "on it"}, headers=bearer(OPERATOR)
    )
    assert acked.status_code == 200 and acked.json()["fingerprint"] == "fp1"
    assert control.published[-1].fingerprint == "fp1" and control.published[-1].by == "ann"
    [listed] = http.get("/api/alerts").json()["alerts"]
    assert listed["acknowledged"]["by"] == "ann" and listed["team"] == "pr"

    made = http.post("/api/silences", json=SILENCE, headers=bearer(OPERATOR)).json()
    [active] = http.get("/api/silences").json()["silences"]
    assert active["id"] == made["id"] and active["state"] == "active"
    assert http.delete("/api/silences/unknown", headers=bearer(OPERATOR)).status_code == 404
    assert http.delete(f"/api/silences/{made['id']}", headers=bearer(VIEWER)).status_code == 403
    gone = http.delete(f"/api/silences/{made['id']}", headers=bearer(OPERATOR))
    assert gone.status_code == 200
    assert http.get("/api/silences").json()["silences"] == []
    assert [e["action"] for e in store.audit] == ["ack", "silence", "expire_silence"]


def test_private_reads_and_body_limit(client):
    http, _, _ = client(EARFUL_API__TOKENS=TOKENS, EARFUL_API__PUBLIC_READ="false")
    assert http.get("/api/alerts").status_code == 401
    assert http.get("/api/alerts", headers=bearer(VIEWER)).status_code == 200
    http.cookies.set("earful_token", VIEWER)
    assert http.get("/api/alerts").status_code == 200  # the dashboard's cookie works for reads
    # ... but never for writes (a cross-site form cannot act for the user)
    assert http.post("/api/silences", json=SILENCE).status_code == 401
    huge = {**SILENCE, "comment": "x" * 70_000}
    assert http.post("/api/silences", json=huge, headers=bearer(OPERATOR)).status_code == 413
    assert http.get("/metrics").status_code == 200


def test_bad_cursor_is_a_400(client):
    http, _, _ = client()
    assert http.get("/api/mentions", params={"cursor": "!!"}).status_code == 400
