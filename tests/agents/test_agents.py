"""The real Faust agents, driven with `agent.test_context()` (no broker)."""

import asyncio
import json
from datetime import UTC, datetime

import pytest

from earful.settings import Settings
from models.analyzer import TextAnalyzer
from streams.app import Dependencies, create_app
from tests.fakes import KeywordScorer, MemoryOutbox

T0 = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture()
def earful(tmp_path):
    settings = Settings(
        worker={
            "app_id": "agent-test",
            "store": "memory://",
            "data_dir": tmp_path,
            "batch_timeout_s": 0.05,
        },
        alerts_log=tmp_path / "alerts.jsonl",
    )
    analyzer = TextAnalyzer(KeywordScorer())
    app = create_app(settings, Dependencies(analyzer=lambda: analyzer))
    outbox = MemoryOutbox()
    for step in app.steps.values():
        step.outbox = outbox if hasattr(step, "outbox") else None
        if hasattr(step, "deadletters"):
            step.deadletters.outbox = outbox
    app.app.finalize()
    app.app.flow_control.resume()
    return app, outbox


async def wait_for(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_score_agent_scores_and_dead_letters(earful):
    app, outbox = earful
    agent = app.app.agents["score"]
    good = json.dumps(
        {
            "id": "m1",
            "platform": "x",
            "created_at": T0.isoformat(),
            "author": {"id": "a"},
            "text": "bad app",
            "brands": ["Acme"],
        }
    ).encode()
    async with agent.test_context() as ctx:
        await ctx.put(good)
        await ctx.put(b"\x00garbage")
        await wait_for(lambda: outbox.sent["scored"] and outbox.sent["deadletter"])
    scored = json.loads(outbox.sent["scored"][0][1])
    assert scored["id"] == "m1" and scored["sentiment"]["label"] == "negative"
    assert json.loads(outbox.sent["deadletter"][0][1])["error_type"] == "bad_json"


async def test_fanout_agent_rekeys_by_brand(earful):
    app, outbox = earful
    score, fanout = app.app.agents["score"], app.app.agents["fanout"]
    raw = json.dumps(
        {
            "id": "m2",
            "platform": "x",
            "created_at": T0.isoformat(),
            "author": {"id": "a"},
            "text": "good",
            "brands": ["A", "B"],
        }
    ).encode()
    async with score.test_context() as ctx:
        await ctx.put(raw)
        await wait_for(lambda: outbox.sent["scored"])
    async with fanout.test_context() as ctx:
        await ctx.put(outbox.sent["scored"][0][1])
        await wait_for(lambda: len(outbox.sent["by_brand"]) == 2)
    assert sorted(k for k, _, _ in outbox.sent["by_brand"]) == ["A", "B"]
