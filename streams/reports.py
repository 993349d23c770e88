"""A report's brand figures from the search indexes: each brand's voice (mentions, sentiment,
reach), and the reported brand's days, top posts, topics and new terms against the period
before (streams/report_facts.py gathers them with the other sections).

The numbers come from plain aggregations (the same on Elasticsearch and OpenSearch); the report
itself is composed and rendered by the pure `reports` package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from earful.text import STOPWORDS
from reports.facts import (
    BrandFacts,
    Day,
    Post,
    TermFacts,
    TopicFacts,
)
from reports.periods import Period
from streams.search.base import SearchStore

log = logging.getLogger(__name__)
POST_FIELDS = ["id", "text", "author", "created_at", "reach", "engagement_total", "sentiment"]


def date_range(start: datetime, end: datetime, field: str = "created_at") -> dict[str, Any]:
    return {"range": {field: {"gte": start.isoformat(), "lt": end.isoformat()}}}


def _post(src: dict[str, Any]) -> Post:
    return Post(
        id=str(src.get("id", "")),
        text=str(src.get("text", "")),
        author=str((src.get("author") or {}).get("handle", "")),
        created_at=src["created_at"],
        reach=int(src.get("reach") or 0),
        engagement=int(src.get("engagement_total") or 0),
        sentiment=str((src.get("sentiment") or {}).get("label", "")),
    )


def hits(agg: dict[str, Any]) -> list[Post]:
    return [_post(h["_source"]) for h in agg.get("hits", {}).get("hits", [])]


def _mix(bucket: dict[str, Any]) -> dict[str, int]:
    return {b["key"]: int(b["doc_count"]) for b in bucket.get("sentiment", {}).get("buckets", [])}


TOP = {
    "top_hits": {
        "size": 1,
        "sort": [{"engagement_total": {"order": "desc", "missing": "_last"}}],
        "_source": POST_FIELDS,
    }
}


async def brand_facts(
    store: SearchStore, brands: Sequence[str], start: datetime, end: datetime
) -> list[BrandFacts]:
    body = {
        "size": 0,
        "query": {
            "bool": {"filter": [{"terms": {"brands": list(brands)}}, date_range(start, end)]}
        },
        "aggs": {
            "voices": {
                "filters": {"filters": {b: {"term": {"brands": b}} for b in brands}},
                "aggs": {
                    "sentiment": {"terms": {"field": "sentiment.label"}},
                    "reach": {"sum": {"field": "reach"}},
                    "engagement": {"sum": {"field": "engagement_total"}},
                },
            }
        },
    }
    result = await store.search("mentions", body)
    buckets = result.get("aggregations", {}).get("voices", {}).get("buckets", {})
    out = []
    for b in brands:
        bucket = buckets.get(b, {})
        mix = _mix(bucket)
        out.append(
            BrandFacts(
                brand=b,
                mentions=int(bucket.get("doc_count", 0)),
                positive=mix.get("positive", 0),
                neutral=mix.get("neutral", 0),
                negative=mix.get("negative", 0),
                reach=int(bucket.get("reach", {}).get("value") or 0),
                engagement=int(bucket.get("engagement", {}).get("value") or 0),
            )
        )
    return out


async def detail_facts(
    store: SearchStore, brand: str, period: Period, background: Period
) -> tuple[list[Day], list[Post], list[TopicFacts], list[TermFacts]]:
    negative = {"filter": {"term": {"sentiment.label": "negative"}}}
    body = {
        "size": 0,
        "query": {
            "bool": {"filter": [{"term": {"brands": brand}}, date_range(period.start, period.end)]}
        },
        "aggs": {
            "days": {
                "date_histogram": {
                    "field": "created_at",
                    "calendar_interval": "1d",
                    "time_zone": period.tz,
                    "min_doc_count": 0,
                    "extended_bounds": {
                        "min": period.start.isoformat(),
                        "max": (period.end - timedelta(milliseconds=1)).isoformat(),
                    },
                },
                "aggs": {
                    "negative": negative,
                    "reach": {"sum": {"field": "reach"}},
                    "engagement": {"sum": {"field": "engagement_total"}},
                },
            },
            "top_posts": {
                "top_hits": {
                    "size": 3,
                    "sort": [{"engagement_total": {"order": "desc", "missing": "_last"}}],
                    "_source": POST_FIELDS,
                }
            },
            "topics": {
                "terms": {"field": "topics", "size": 10},
                "aggs": {"negative": negative, "example": TOP},
            },
            "sample": {
                "sampler": {"shard_size": 2000},
                "aggs": {
                    "terms": {
                        "significant_text": {
                            "field": "text",
                            "size": 5,
                            "min_doc_count": 3,
                            "filter_duplicate_text": True,
                            "exclude": sorted(STOPWORDS),  # as the dashboard's emerging terms
                            "background_filter": {
                                "bool": {
                                    "filter": [
                                        {"term": {"brands": brand}},
                                        date_range(background.start, background.end),
                                    ]
                                }
                            },
                        },
                    }
                },
            },
        },
    }
    aggs = (await store.search("mentions", body)).get("aggregations", {})
    zone = ZoneInfo(period.tz)
    days = [
        Day(
            day=datetime.fromtimestamp(b["key"] / 1000, UTC).astimezone(zone).date(),
            mentions=int(b["doc_count"]),
            negative=int(b["negative"]["doc_count"]),
            reach=int(b["reach"]["value"] or 0),
            engagement=int(b["engagement"]["value"] or 0),
        )
        for b in aggs.get("days", {}).get("buckets", [])
    ]
    days = [d for d in days if period.start.date() <= d.day < period.end.date()]
    topics = [
        TopicFacts(
            topic=b["key"],
            mentions=int(b["doc_count"]),
            negative=int(b["negative"]["doc_count"]),
            example=next(iter(hits(b["example"])), None),
        )
        for b in aggs.get("topics", {}).get("buckets", [])
    ]
    terms = []
    for b in aggs.get("sample", {}).get("terms", {}).get("buckets", []):
        # significant_text takes no sub-aggregations: one small query for its example post
        example = await store.search(
            "mentions",
            {
                "size": 1,
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"brands": brand}},
                            date_range(period.start, period.end),
                            {"match": {"text": b["key"]}},
                        ]
                    }
                },
                "sort": [{"engagement_total": {"order": "desc", "missing": "_last"}}],
                "_source": POST_FIELDS,
            },
        )
        terms.append(
            TermFacts(
                term=b["key"],
                mentions=int(b["doc_count"]),
                background=int(b.get("bg_count", 0)),
                example=next(iter(hits(example)), None),
            )
        )
    return days, hits(aggs.get("top_posts", {})), topics, terms
