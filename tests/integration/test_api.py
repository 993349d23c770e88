"""The HTTP API and dashboard as users reach them: `earful api` (uvicorn) on 127.0.0.1 over the
real OpenSearch, and the silence form publishing to the real Kafka `control` topic."""

import asyncio
import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from earful.records import Author, ScoredMention, Sentiment
from earful.settings import SearchSettings
from streams.indexing import mention_document
from streams.search import open_store
from streams.search.base import Doc
from tests.integration.harness import ROOT, earful_env, read_topic, run_cli, wait_until

T0 = datetime(2026, 11, 17, 14, tzinfo=UTC)


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
    env = earful_env(run_id, real_services, tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "api.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "earful", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def up():
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert proc.poll() is None, (tmp_path / "api.log").read_text()
                return False

        try:
            wait_until(up, 60, "the API to serve")
            yield url, env
        finally:
            proc.terminate()
            proc.wait(10)


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

    bad = httpx.post(f"{url}/api/silences", json={"matchers": ["brand=~("], "duration": "1h"})
    assert bad.status_code == 422 and "invalid regex" in bad.text
    made = httpx.post(
        f"{url}/api/silences",
        json={
            "matchers": ["brand=Skyway Air", "kind=volume_spike"],
            "duration": "2h",
            "created_by": "ann",
            "comment": "statement is out",
        },
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
