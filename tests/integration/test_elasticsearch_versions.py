"""The Elasticsearch client speaks to 8.x and 9.x servers: the REST compatibility headers follow
the server's major version (a 9.x client's `compatible-with=9` is refused by Elasticsearch 8).

The servers here are loopback stand-ins that answer the root endpoint with a version and, like
the real ones, refuse a compatibility version they do not speak; the search semantics are
tested against OpenSearch and the Elasticsearch API emulator elsewhere."""

import pytest
from aiohttp import web

from earful.settings import SearchSettings
from streams.search import open_store
from streams.search.base import SearchUnavailable


@pytest.fixture()
async def fake_es(unused_tcp_port):
    state = {"version": "8.17.0", "accepts": []}

    async def root(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "version": {"number": state["version"], "build_flavor": "default"},
                "tagline": "You Know, for Search",
            },
            headers={"X-Elastic-Product": "Elasticsearch"},
        )

    async def count(request: web.Request) -> web.Response:
        accept = request.headers.get("Accept", "")
        state["accepts"].append(accept)
        major = state["version"].split(".")[0]
        speaks = {f"compatible-with={v}" for v in (int(major), int(major) - 1)}
        if "compatible-with=" in accept and not any(s in accept for s in speaks):
            return web.json_response(
                {
                    "error": {
                        "type": "media_type_header_exception",
                        "reason": "Invalid media-type value on headers [Accept, Content-Type]",
                    },
                    "status": 400,
                },
                status=400,
                headers={"X-Elastic-Product": "Elasticsearch"},
            )
        return web.json_response({"count": 3}, headers={"X-Elastic-Product": "Elasticsearch"})

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_route("*", "/{index}/_count", count)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    yield f"http://127.0.0.1:{unused_tcp_port}", state
    await runner.cleanup()


@pytest.mark.parametrize("version", ["8.17.0", "9.1.2"])
@pytest.mark.parametrize("engine", ["auto", "elasticsearch"])
async def test_the_headers_follow_the_server_major(fake_es, version, engine):
    url, state = fake_es
    state["version"] = version
    store = await open_store(SearchSettings(url=url, engine=engine, index_prefix="x"))
    try:
        assert store.engine == "elasticsearch"
        assert await store.count("mentions") == 3
    finally:
        await store.close()
    major = version.split(".")[0]
    assert state["accepts"] and all(f"compatible-with={major}" in a for a in state["accepts"])


async def test_an_unsupported_major_is_refused_with_the_reason(fake_es):
    url, state = fake_es
    state["version"] = "7.17.0"
    with pytest.raises(SearchUnavailable, match=r"Elasticsearch 7 .* not supported"):
        await open_store(SearchSettings(url=url, engine="elasticsearch"))
