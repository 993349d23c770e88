"""Every endpoint of the OpenAPI spec, fuzzed with schemathesis against `earful api` over the
real OpenSearch and Kafka: whatever the request, never a 5xx (a bad query string, cursor, date
or body is the caller's mistake and says so with a 4xx)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from earful.settings import SearchSettings
from streams.indexing import mention_document
from streams.search import open_store
from streams.search.base import Doc
from tests.integration.test_api import mention
from tooling.harness import api_server, earful_env

TOKEN = "fuzz-operator-token-0123456789"


@pytest.fixture(scope="module")
def api_url(real_services, tmp_path_factory):
    run_id = "fz" + tmp_path_factory.getbasetemp().name[-8:].replace("-", "")
    tmp = tmp_path_factory.mktemp("fuzz")

    async def seed() -> None:
        store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
        await store.ensure_setup()
        docs = [
            Doc(m.id, mention_document(m, indexed_at=m.created_at), m.created_at)
            for m in (mention(i, "negative", f"delayed flight {i}") for i in range(5))
        ]
        await store.bulk_index("mentions", docs)
        await store.refresh("mentions")
        await store.close()

    asyncio.run(seed())
    env = earful_env(
        run_id,
        real_services,
        tmp,
        EARFUL_API__TOKENS=json.dumps([{"name": "fuzz", "token": TOKEN, "role": "admin"}]),
    )
    with api_server(env, tmp / "api.log") as url:
        yield url
    errors = [line for line in (tmp / "api.log").read_text().splitlines() if "Traceback" in line]
    assert not errors, (tmp / "api.log").read_text()[-4000:]


def test_no_server_errors(api_url, tmp_path):
    # schemathesis' own runner (its pytest plugin does not load under this pytest); a fixed
    # seed keeps a failure reproducible: rerun the command from the output
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{api_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "25",
        "--seed",
        "20261202",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        # one worker: with two, hypothesis' lambda-source cache raced inside schemathesis'
        # coverage phase once in CI (a crash in the tool, no request sent)
        "--workers",
        "1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
