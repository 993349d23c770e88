"""Pick the Elasticsearch or OpenSearch implementation from settings, or by asking the server."""

from __future__ import annotations

import httpx

from earful.settings import SearchSettings
from streams.search.base import SearchStore, SearchUnavailable

#: Elasticsearch majors Earful speaks to (the client's REST compatibility headers are chosen
#: per server; OpenSearch 2.x and 3.x are spoken to through opensearch-py).
SUPPORTED_ELASTICSEARCH = (8, 9)


async def server_info(
    url: str,
    auth: tuple[str, str] | None = None,
    verify: bool = True,
    api_key: str | None = None,
) -> dict[str, object]:
    """The cluster's root endpoint: which product and version it is."""
    headers = {"Authorization": f"ApiKey {api_key}"} if api_key else None
    try:
        async with httpx.AsyncClient(auth=auth, verify=verify, timeout=10) as client:
            response = await client.get(url, headers=headers)
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SearchUnavailable(f"cannot reach the search engine at {url}: {exc}") from exc
    return info if isinstance(info, dict) else {}


def engine_of(info: dict[str, object]) -> tuple[str, int]:
    version = info.get("version")
    version = version if isinstance(version, dict) else {}
    engine = "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
    try:
        major = int(str(version.get("number", "0")).split(".")[0])
    except ValueError:
        major = 0
    return engine, major


async def detect_engine(url: str, auth: tuple[str, str] | None = None, verify: bool = True) -> str:
    """Ask the cluster's root endpoint which product it is."""
    return engine_of(await server_info(url, auth, verify))[0]


async def open_store(settings: SearchSettings) -> SearchStore:
    engine, url = settings.resolved
    password = settings.password.get_secret_value() if settings.password else None
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    auth = (settings.username, password) if settings.username and password else None
    major = 0
    if engine in ("auto", "elasticsearch"):
        # An Elasticsearch 8 server refuses the 9.x client's `compatible-with=9` headers, so
        # the server's major version decides which ones the client sends.
        found, major = engine_of(await server_info(url, auth, settings.verify_certs, api_key))
        engine = found if engine == "auto" else engine
        if engine == "elasticsearch" and major not in SUPPORTED_ELASTICSEARCH:
            supported = " and ".join(map(str, SUPPORTED_ELASTICSEARCH))
            raise SearchUnavailable(
                f"Elasticsearch {major} at {url} is not supported: Earful speaks to "
                f"Elasticsearch {supported} and OpenSearch 2 and 3"
            )
    common = {
        "prefix": settings.index_prefix,
        "shards": settings.shards,
        "replicas": settings.replicas,
        "store_embeddings": settings.store_embeddings,
    }
    if engine == "opensearch":
        from streams.search.opensearch import OpenSearchStore

        return OpenSearchStore.connect(
            url,
            username=settings.username,
            password=password,
            verify_certs=settings.verify_certs,
            **common,
        )
    from streams.search.elasticsearch import ElasticsearchStore

    return ElasticsearchStore.connect(
        url,
        username=settings.username,
        password=password,
        api_key=api_key,
        verify_certs=settings.verify_certs,
        server_major=major,
        **common,
    )
