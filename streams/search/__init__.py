"""Search engine edge: one small `SearchStore` interface, Elasticsearch and OpenSearch behind it."""

from streams.search.base import BulkFailure, BulkResult, SearchStore, SearchUnavailable
from streams.search.factory import open_store

__all__ = ["BulkFailure", "BulkResult", "SearchStore", "SearchUnavailable", "open_store"]
