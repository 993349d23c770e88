"""Elasticsearch 8.x/9.x through the official `elasticsearch` client.

The 9.x client asks every request for REST compatibility with 9 (`Accept:
application/vnd.elasticsearch+json; compatible-with=9`), which an Elasticsearch 8 server
refuses with `media_type_header_exception`. Against an 8.x server the transport rewrites the
headers to `compatible-with=8`; the request bodies Earful sends are the same in both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elastic_transport import AsyncTransport, ConnectionTimeout, HttpHeaders
from elastic_transport import ConnectionError as ClusterUnreachable

from streams.search.base import PIT_KEEP_ALIVE, ClientStore

CLIENT_MAJOR = 9


def compat_headers(headers: Mapping[str, str], server_major: int) -> HttpHeaders:
    """The same headers, asking for compatibility with the server's major version."""
    out = HttpHeaders(headers)
    for name in ("accept", "content-type"):
        value = out.get(name)
        if value:
            out[name] = value.replace(
                f"compatible-with={CLIENT_MAJOR}", f"compatible-with={server_major}"
            )
    return out


def transport_for(server_major: int) -> type[AsyncTransport]:
    """The client's transport, or one that speaks to an older server's REST compatibility."""
    if not server_major or server_major >= CLIENT_MAJOR:
        return AsyncTransport

    class CompatTransport(AsyncTransport):
        async def perform_request(  # type: ignore[override]
            self, method: str, target: str, *, headers: Any = None, **kwargs: Any
        ) -> Any:
            if headers is not None:
                headers = compat_headers(headers, server_major)
            return await super().perform_request(method, target, headers=headers, **kwargs)

    return CompatTransport


class ElasticsearchStore(ClientStore):
    engine = "elasticsearch"
    CONNECTION_ERRORS = (ClusterUnreachable, ConnectionTimeout)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        verify_certs: bool = True,
        server_major: int = 0,
        **kwargs: Any,
    ) -> ElasticsearchStore:
        from elasticsearch import AsyncElasticsearch

        auth: dict[str, Any] = {}
        if api_key:
            auth["api_key"] = api_key
        elif username and password:
            auth["basic_auth"] = (username, password)
        client = AsyncElasticsearch(
            url,
            verify_certs=verify_certs,
            request_timeout=30,
            transport_class=transport_for(server_major),
            **auth,
        )
        return cls(client, **kwargs)

    async def _put_template(self, name: str, body: dict[str, Any]) -> None:
        await self.client.indices.put_index_template(
            name=name,
            index_patterns=body["index_patterns"],
            priority=body["priority"],
            template=body["template"],
        )

    async def _bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        response = await self.client.bulk(operations=operations)
        return dict(response.body)

    async def _search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self.client.search(
            index=index,
            ignore_unavailable=True,
            allow_no_indices=True,
            **dict(body),
        )
        return dict(response.body)

    async def _create_pit(self, index: str) -> str:
        response = await self.client.open_point_in_time(
            index=index, keep_alive=PIT_KEEP_ALIVE, ignore_unavailable=True
        )
        return str(response.body["id"])

    async def _search_pit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self.client.search(**dict(body))
        return dict(response.body)

    async def _close_pit(self, pit: str) -> None:
        await self.client.close_point_in_time(id=pit)

    async def _count(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self.client.count(
            index=index,
            ignore_unavailable=True,
            allow_no_indices=True,
            **dict(body),
        )
        return dict(response.body)

    async def _delete_by_query(self, index: str, query: Mapping[str, Any]) -> dict[str, Any]:
        response = await self.client.delete_by_query(
            index=index,
            query=dict(query),
            ignore_unavailable=True,
            allow_no_indices=True,
            conflicts="proceed",
            refresh=True,
        )
        return dict(response.body)
