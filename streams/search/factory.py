"""Pick the Elasticsearch or OpenSearch implementation from settings, or by asking the server."""

from __future__ import annotations

import httpx

from earful.settings import SearchSettings
from streams.search.base import SearchStore, SearchUnavailable


async def detect_engine(url: str, auth: tuple[str, str] | None = None, verify: bool = True) -> str:
    """Ask the cluster's root endpoint which product it is."""
    try:
        async with httpx.AsyncClient(auth=auth, verify=verify, timeout=10) as client:
            response = await client.get(url)
        response.raise_for_status()
        info = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise SearchUnavailable(f"cannot reach the search engine at {url}: {exc}") from exc
    distribution = (info.get("version") or {}).get("distribution", "")
    return "opensearch" if distribution == "opensearch" else "elasticsearch"


async def open_store(settings: SearchSettings) -> SearchStore:
    engine, url = settings.resolved
    password = settings.password.get_secret_value() if settings.password else None
    if engine == "auto":
        auth = (settings.username, password) if settings.username and password else None
        engine = await detect_engine(url, auth, settings.verify_certs)
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

    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    return ElasticsearchStore.connect(
        url,
        username=settings.username,
        password=password,
        api_key=api_key,
        verify_certs=settings.verify_certs,
        **common,
    )
