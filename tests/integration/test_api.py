"""The HTTP API and dashboard as users reach them: `earful api` (uvicorn) on 127.0.0.1 over the
real OpenSearch, and the silence form publishing to the real Kafka `control` topic."""

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from earful.records import Alert, Author, ScoredMention, Sentiment
from earful.settings import SearchSettings
from streams.indexing import mention_document
from streams.search import open_store
from streams.search.base import Doc
from tooling.harness import api_server as serve_api
from tooling.harness import earful_env, read_topic, run_cli

T0 = datetime(2026, 11, 17, 14, tzinfo=UTC)
OPERATOR = "integration-operator-token-0123"
AUTH = {"Authorization": f"Bearer {OPERATOR}"}


def mention(i: int, label: str, text: str) -> ScoredMention:
    return ScoredMention(
        id=f"api-{i}",
        platform="twitter",
        created_at=T0 + timedelta(minutes=i),
        author=Author(id=f"u{i}", handle=f"user{i}", followers=100 * i),
        text=text,
        lang="en",
        brands=("Skyway Air",),
        sentiment=Sentiment(label=label, score=-0.8 if label == "negative" else 0.7),
        topics=("delays",) if "delay" in text else (),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def api_server(real_services, run_id, tmp_path):
    mentions = [mention(i, "negative", f"flight {i} delayed again #fail") for i in range(6)]
    mentions += [mention(10 + i, "positive", f"great crew on flight {i}") for i in range(4)]

    async def seed():
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        await store.ensure_setup()
        docs = [Doc(m.id, mention_document(m, indexed_at=T0), m.created_at) for m in mentions]
        result = await store.bulk_index("mentions", docs)
        assert result.failures == []
        await store.refresh("mentions")
        await store.close()

    asyncio.run(seed())
    env = earful_env(
        run_id,
        real_services,
        tmp_path,
        EARFUL_API__TOKENS=json.dumps([{"name": "ann", "token": OPERATOR, "role": "operator"}]),
    )
    with serve_api(env, tmp_path / "api.log") as url:
        yield url, env


def test_search_trends_dashboard_and_silences(api_server, real_services, run_id):
    url, env = api_server
    health = httpx.get(f"{url}/healthz").json()
    assert health == {"ok": True, "engine": "opensearch", "mentions": 10}

    found = httpx.get(
        f"{url}/api/mentions", params={"q": "delayed", "sentiment": "negative"}
    ).json()
    assert found["total"] == 6
    assert found["facets"]["sentiment"] == {"negative": 6}
    assert httpx.get(f"{url}/api/mentions", params={"q": "text:("}).status_code == 400

    trend = httpx.get(f"{url}/api/trends", params={"brand": "Skyway Air", "interval": "1h"}).json()
    assert sum(p["count"] for p in trend["points"]) == 10

    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and "Skyway Air" in page.text
    search = httpx.get(f"{url}/search", params={"q": "crew"})
    assert search.status_code == 200 and "great crew on flight 2" in search.text

    # the "Silence" button of a notification lands on a form with its matchers filled in
    form = httpx.get(
        f"{url}/silences/new",
        params=[("matcher", "brand=Skyway Air"), ("matcher", "kind=volume_spike")],
    )
    assert form.status_code == 200
    assert "brand=Skyway Air\nkind=volume_spike" in form.text

    # writes need an operator token; the form sends the one the user typed in
    refused = httpx.post(
        f"{url}/api/silences", json={"matchers": ["brand=Skyway Air"], "duration": "1h"}
    )
    assert refused.status_code == 401
    bad = httpx.post(
        f"{url}/api/silences", json={"matchers": ["brand=~("], "duration": "1h"}, headers=AUTH
    )
    assert bad.status_code == 422 and "invalid regex" in bad.text
    made = httpx.post(
        f"{url}/api/silences",
        json={
            "matchers": ["brand=Skyway Air", "kind=volume_spike"],
            "duration": "2h",
            "created_by": "ann",
            "comment": "statement is out",
        },
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    silence = made.json()
    [published] = [
        json.loads(m.value) for m in read_topic(real_services["kafka"], f"{run_id}.control")
    ]
    assert published == silence and published["duration_s"] == 7200.0
    # and the CLI, reading the same topic, lists it
    listed = run_cli(["silences", "list"], env)
    assert silence["id"] in listed and "active" in listed


def test_search_pages_sorts_highlights_and_refuses_bad_queries(api_server):
    url, _ = api_server
    first = httpx.get(f"{url}/api/mentions", params={"q": "flight", "size": 4}).json()
    assert first["total"] == 10 and len(first["hits"]) == 4 and first["next_cursor"]
    seen = [h["id"] for h in first["hits"]]
    cursor = first["next_cursor"]
    while cursor:
        page = httpx.get(
            f"{url}/api/mentions", params={"q": "flight", "size": 4, "cursor": cursor}
        ).json()
        seen += [h["id"] for h in page["hits"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted({f"api-{i}" for i in range(6)} | {f"api-1{i}" for i in range(4)})
    assert len(seen) == 10  # every mention once, none twice
    newest_first = [h["created_at"] for h in first["hits"]]
    assert newest_first == sorted(newest_first, reverse=True)

    reached = httpx.get(f"{url}/api/mentions", params={"sort": "reach", "min_reach": 300}).json()
    reach = [h["reach"] for h in reached["hits"]]
    assert reach == sorted(reach, reverse=True) and min(reach) >= 300 and reached["total"] == 7

    lit = httpx.get(f"{url}/api/mentions", params={"q": "crew"}).json()
    assert all("<mark>crew</mark>" in h["highlight"] for h in lit["hits"]) and lit["total"] == 4

    for path in ("/api/mentions", "/api/trends"):
        bad = httpx.get(f"{url}{path}", params={"q": "text:(delayed"})
        assert bad.status_code == 400, (path, bad.text)
        assert "invalid query" in bad.json()["detail"]
    assert httpx.get(f"{url}/api/mentions", params={"cursor": "zzz"}).status_code == 400


def test_alerts_ack_silences_and_audit_against_the_real_services(api_server, real_services, run_id):
    url, _ = api_server

    async def seed_alert():
        from earful.records import Evidence
        from streams.dispatch import alert_document

        alert = Alert(
            kind="volume_spike",
            brand="Skyway Air",
            rule="pr-volume",
            status="firing",
            severity="critical",
            fingerprint="fp-int",
            fired_at=T0,
            window_start=T0,
            window_end=T0,
            labels={"team": "pr"},
            evidence=Evidence(observed=40, expected=5),
        )
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        await store.bulk_index("alerts", [Doc(alert.id, alert_document(alert))])
        await store.refresh("alerts")
        await store.close()
        return alert

    alert = asyncio.run(seed_alert())
    listed = httpx.get(f"{url}/api/alerts", params={"team": "pr"}).json()["alerts"]
    assert [a["id"] for a in listed] == [alert.id] and listed[0]["acknowledged"] is None
    assert httpx.get(f"{url}/api/alerts", params={"team": "care"}).json()["alerts"] == []

    assert httpx.post(f"{url}/api/alerts/{alert.id}/ack", json={}).status_code == 401
    acked = httpx.post(
        f"{url}/api/alerts/{alert.id}/ack", json={"comment": "PR on it"}, headers=AUTH
    )
    assert acked.status_code == 200, acked.text
    [listed] = httpx.get(f"{url}/api/alerts").json()["alerts"]
    assert listed["acknowledged"]["by"] == "ann"

    made = httpx.post(
        f"{url}/api/silences",
        json={"matchers": ["brand=Skyway Air"], "duration": "1h", "comment": "known"},
        headers=AUTH,
    ).json()
    everything = httpx.post(
        f"{url}/api/silences", json={"matchers": ["brand=~.*"], "duration": "1h"}, headers=AUTH
    )
    assert everything.status_code == 422
    active = httpx.get(f"{url}/api/silences").json()["silences"]
    assert [s["id"] for s in active] == [made["id"]]
    assert httpx.delete(f"{url}/api/silences/{made['id']}", headers=AUTH).status_code == 200
    assert httpx.get(f"{url}/api/silences").json()["silences"] == []

    control = [json.loads(m.value) for m in read_topic(real_services["kafka"], f"{run_id}.control")]
    assert [c["type"] for c in control] == ["ack", "silence", "expire"]
    assert control[0]["fingerprint"] == "fp-int" and control[0]["by"] == "ann"
    audit = httpx.get(f"{url}/api/audit", headers=AUTH).json()["entries"]
    assert [e["action"] for e in audit] == ["expire_silence", "silence", "ack"]
    assert {e["actor"] for e in audit} == {"ann"}

    # Each alert once, as it stands now: the notice that resolved it replaces the one that
    # fired it (with when it fired), where the history lists both
    async def resolve(before: Alert) -> Alert:
        from streams.dispatch import alert_document

        resolved = before.model_copy(
            update={"status": "resolved", "fired_at": T0 + timedelta(minutes=40)}
        )
        other = before.model_copy(
            update={"fingerprint": "fp-other", "fired_at": T0 + timedelta(minutes=10)}
        )
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        await store.bulk_index("alerts", [Doc(a.id, alert_document(a)) for a in (resolved, other)])
        await store.refresh("alerts")
        await store.close()
        return resolved

    resolved = asyncio.run(resolve(alert))
    history = httpx.get(f"{url}/api/alerts", params={"team": "pr"}).json()["alerts"]
    assert len(history) == 3
    now = httpx.get(
        f"{url}/api/alerts", params={"team": "pr", "latest": "true", "order": "priority"}
    ).json()["alerts"]
    assert [(a["fingerprint"], a["status"]) for a in now] == [
        ("fp-other", "firing"),
        ("fp-int", "resolved"),
    ]
    assert now[1]["id"] == resolved.id
    assert now[1]["began_at"].startswith("2026-11-17T14:00")
    assert "began_at" not in now[0]
