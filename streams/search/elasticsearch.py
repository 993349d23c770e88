"""Elasticsearch 8.x/9.x through the official `elasticsearch` client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.search.base import ClientStore


class ElasticsearchStore(ClientStore):
    engine = "elasticsearch"

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        verify_certs: bool = True,
        **kwargs: Any,
    ) -> ElasticsearchStore:
        from elasticsearch import AsyncElasticsearch

        auth: dict[str, Any] = {}
        if api_key:
            auth["api_key"] = api_key
        elif username and password:
            auth["basic_auth"] = (username, password)
        client = AsyncElasticsearch(url, verify_certs=verify_certs, request_timeout=30, **auth)
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

    async def _count(self, index: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self.client.count(
            index=index,
            ignore_unavailable=True,
            allow_no_indices=True,
            **dict(body),
        )
        return dict(response.body)
