"""OpenSearch through `opensearch-py` (the official Elasticsearch client refuses OpenSearch)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opensearchpy.exceptions import ConnectionError as ClusterUnreachable
from opensearchpy.exceptions import ConnectionTimeout

from streams.search.base import PIT_KEEP_ALIVE, ClientStore


class OpenSearchStore(ClientStore):
    engine = "opensearch"
    CONNECTION_ERRORS = (ClusterUnreachable, ConnectionTimeout)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        verify_certs: bool = True,
        **kwargs: Any,
    ) -> OpenSearchStore:
        from opensearchpy import AsyncOpenSearch

        auth = (username, password) if username and password else None
        client = AsyncOpenSearch(
            hosts=[url], http_auth=auth, verify_certs=verify_certs, ssl_show_warn=False, timeout=30
        )
        return cls(client, **kwargs)

    async def _put_template(self, name: str, body: dict[str, Any]) -> None:
        await self.client.indices.put_index_template(name=name, body=body)

    async def _bulk(self, operations: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = await self.client.bulk(body=operations)
        return response

    async def _search(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = await self.client.search(
            index=index,
            body=dict(body),
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )
        return response

    async def _create_pit(self, index: str) -> str:
        response = await self.client.create_pit(index=index, params={"keep_alive": PIT_KEEP_ALIVE})
        return str(response["pit_id"])

    async def _search_pit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = await self.client.search(body=dict(body))
        return response

    async def _close_pit(self, pit: str) -> None:
        await self.client.delete_pit(body={"pit_id": [pit]})

    async def _count(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = await self.client.count(
            index=index,
            body=dict(body),
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )
        return response

    async def _delete_by_query(self, index: str, query: Mapping[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = await self.client.delete_by_query(
            index=index,
            body={"query": dict(query)},
            params={
                "ignore_unavailable": "true",
                "allow_no_indices": "true",
                "conflicts": "proceed",
                "refresh": "true",
            },
        )
        return response
