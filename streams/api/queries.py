"""Search-engine queries behind the API and dashboard (pure: they build request bodies)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

#: Fields a user may filter mentions on, mapped to index fields.
FILTERS = {
    "brand": "brands",
    "sentiment": "sentiment.label",
    "lang": "lang",
    "platform": "platform",
    "topic": "topics",
    "hashtag": "hashtags",
}


#: `sort=` choices of the mention search, mapped to index fields (ties broken by id).
SORTS = {"time": "created_at", "reach": "reach", "engagement": "engagement_total"}


def encode_cursor(sort_values: list[Any]) -> str:
    """An opaque `search_after` cursor for the next page (the last hit's sort values)."""
    return base64.urlsafe_b64encode(json.dumps(sort_values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """ValueError on a cursor this API did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid cursor: pass the next_cursor of the previous page") from None
    if not isinstance(values, list) or len(values) != 2:
        raise ValueError("invalid cursor: pass the next_cursor of the previous page")
    return values


def mention_query(
    q: str | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    min_reach: int | None = None,
    **filters: str | None,
) -> dict[str, Any]:
    must: list[dict[str, Any]] = []
    if min_reach:
        must.append({"range": {"reach": {"gte": min_reach}}})
    if q:
        must.append(
            {"query_string": {"query": q, "default_field": "text", "default_operator": "AND"}}
        )
    for name, value in filters.items():
        if value:
            must.append({"term": {FILTERS[name]: value}})
    if start or end:
        rng: dict[str, str] = {}
        if start:
            rng["gte"] = start.isoformat()
        if end:
            rng["lt"] = end.isoformat()
        must.append({"range": {"created_at": rng}})
    return {"bool": {"filter": must}} if must else {"match_all": {}}


def search_body(
    query: dict[str, Any],
    *,
    size: int = 50,
    sort: str = "created_at",
    search_after: list[Any] | None = None,
    highlight: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": query,
        "size": size,
        "sort": [{sort: {"order": "desc", "missing": "_last"}}, {"id": "asc"}],
        "aggs": {
            "sentiment": {"terms": {"field": "sentiment.label"}},
            "brands": {"terms": {"field": "brands", "size": 20}},
            "topics": {"terms": {"field": "topics", "size": 15}},
            "langs": {"terms": {"field": "lang", "size": 15}},
            "platforms": {"terms": {"field": "platform", "size": 10}},
        },
        "track_total_hits": True,
    }
    if search_after:
        # the next page of the same search: its total and facets are already on the page
        body["search_after"] = search_after
        body.pop("aggs")
        body["track_total_hits"] = False
    if highlight:
        # <mark> around the matched words; the text is escaped first, so a post cannot inject
        # markup into the page that shows it
        body["highlight"] = {
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "encoder": "html",
            "fields": {"text": {"number_of_fragments": 0}},
        }
    return body


def trend_body(query: dict[str, Any], interval: str = "1h") -> dict[str, Any]:
    return {
        "query": query,
        "size": 0,
        "aggs": {
            "over_time": {
                "date_histogram": {
                    "field": "created_at",
                    "fixed_interval": interval,
                    "min_doc_count": 0,
                },
                "aggs": {
                    "sentiment": {"terms": {"field": "sentiment.label"}},
                    "score": {"avg": {"field": "sentiment.score"}},
                    "reach": {"sum": {"field": "reach"}},
                    "engagement": {"sum": {"field": "engagement_total"}},
                },
            }
        },
    }


def bucket_counts(agg: dict[str, Any]) -> dict[str, int]:
    return {str(b["key"]): int(b["doc_count"]) for b in agg.get("buckets", [])}


def trend_points(result: dict[str, Any]) -> list[dict[str, Any]]:
    points = []
    for b in result.get("aggregations", {}).get("over_time", {}).get("buckets", []):
        mix = bucket_counts(b["sentiment"])
        n = int(b["doc_count"])
        points.append(
            {
                "at": b["key_as_string"],
                "count": n,
                **mix,
                "negative_share": (mix.get("negative", 0) / n) if n else None,
                "avg_score": b["score"]["value"],
                "reach": int(b.get("reach", {}).get("value") or 0),
                "engagement": int(b.get("engagement", {}).get("value") or 0),
            }
        )
    return points
