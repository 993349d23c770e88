"""Search bodies and their reading for charts drawn from the trend rollups (pure but for
`use_rollups`, which asks the store whether they cover a range): trends and share of voice
over long spans, and history whose mentions retention has already dropped
(streams/rollups.py writes them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from streams.api.insights import date_range, sov_answer

#: Spans at least this long are charted from the rollups (`source=auto`). Measured over 1M
#: mentions (`make bench`), a month of daily points is as fast or faster from the mention index
#: (16-19 ms p50 against 26-29 ms), so the rollups serve the long ranges: a quarter or a year,
#: and history whose mentions retention has already dropped.
ROLLUP_SPAN = timedelta(days=90)


def rollup_filters(
    start: datetime | None,
    end: datetime | None,
    interval_s: float,
    *,
    brands: Sequence[str] | None = None,
    topic: str | None = None,
    sentiment: str | None = None,
    lang: str | None = None,
    platform: str | None = None,
) -> list[dict[str, Any]] | None:
    """The rollup documents answering these filters, or None when no rollup family keeps
    that combination (then the mention index answers)."""
    hourly = interval_s % 3600 == 0
    if topic and (lang or platform):
        return None  # the topic family sums over language and platform
    if not hourly and (topic or lang or platform):
        return None  # five-minute rollups keep brand and sentiment only
    out: list[dict[str, Any]] = [
        {"term": {"interval": "1h" if hourly else "5m"}},
        *date_range(start, end, "bucket"),
    ]
    out.append({"terms": {"brand": list(brands)}} if brands else {"term": {"brand": "_all"}})
    if hourly:
        out.append({"term": {"topic": topic or "_all"}})
        if topic:
            out.append({"term": {"lang": "_all"}})
    for field, value in (("sentiment", sentiment), ("lang", lang), ("platform", platform)):
        if value:
            out.append({"term": {field: value}})
    return out


def rollup_trend_body(filters: list[dict[str, Any]], interval: str) -> dict[str, Any]:
    return {
        "size": 0,
        "query": {"bool": {"filter": filters}},
        "aggs": {
            "over_time": {
                "date_histogram": {
                    "field": "bucket",
                    "fixed_interval": interval,
                    "min_doc_count": 0,
                },
                "aggs": {
                    "count": {"sum": {"field": "count"}},
                    "reach": {"sum": {"field": "reach"}},
                    "engagement": {"sum": {"field": "engagement"}},
                    "score": {"sum": {"field": "score_sum"}},
                    "sentiment": {
                        "terms": {"field": "sentiment"},
                        "aggs": {"count": {"sum": {"field": "count"}}},
                    },
                },
            }
        },
    }


def read_rollup_trend(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The same points `queries.trend_points` reads from the mention index."""
    points = []
    for b in result.get("aggregations", {}).get("over_time", {}).get("buckets", []):
        n = int(b["count"]["value"] or 0)
        mix = {str(s["key"]): int(s["count"]["value"] or 0) for s in b["sentiment"]["buckets"]}
        mix = {k: v for k, v in mix.items() if v}
        points.append(
            {
                "at": b["key_as_string"],
                "count": n,
                **mix,
                "negative_share": (mix.get("negative", 0) / n) if n else None,
                "avg_score": (b["score"]["value"] / n) if n else None,
                "reach": int(b["reach"]["value"] or 0),
                "engagement": int(b["engagement"]["value"] or 0),
            }
        )
    return points


def rollup_sov_body(
    brands: Sequence[str],
    start: datetime | None,
    end: datetime | None,
    interval: str,
    interval_s: float,
) -> dict[str, Any]:
    per_brand = {
        "terms": {"field": "brand", "size": len(brands)},
        "aggs": {
            "count": {"sum": {"field": "count"}},
            "reach": {"sum": {"field": "reach"}},
            "engagement": {"sum": {"field": "engagement"}},
            "sentiment": {
                "terms": {"field": "sentiment"},
                "aggs": {"count": {"sum": {"field": "count"}}},
            },
        },
    }
    return {
        "size": 0,
        "query": {"bool": {"filter": rollup_filters(start, end, interval_s, brands=brands) or []}},
        "aggs": {
            "brands": per_brand,
            "over_time": {
                "date_histogram": {
                    "field": "bucket",
                    "fixed_interval": interval,
                    "min_doc_count": 0,
                },
                "aggs": {
                    "brands": {
                        "terms": {"field": "brand", "size": len(brands)},
                        "aggs": {"count": {"sum": {"field": "count"}}},
                    }
                },
            },
        },
    }


def read_rollup_sov(brands: Sequence[str], result: dict[str, Any]) -> dict[str, Any]:
    """The same answer `read_share_of_voice` gives from the mention index."""
    aggs = result.get("aggregations", {})

    def summed(bucket: dict[str, Any], name: str) -> int:
        return int(bucket[name]["value"] or 0)

    voices = {
        str(b["key"]): (
            summed(b, "count"),
            {
                str(s["key"]): summed(s, "count")
                for s in b["sentiment"]["buckets"]
                if summed(s, "count")
            },
            summed(b, "reach"),
            summed(b, "engagement"),
        )
        for b in aggs.get("brands", {}).get("buckets", [])
    }
    points = [
        (p["key_as_string"], {str(x["key"]): summed(x, "count") for x in p["brands"]["buckets"]})
        for p in aggs.get("over_time", {}).get("buckets", [])
    ]
    return sov_answer(brands, voices, points)


def interval_seconds(interval: str) -> float:
    unit = {"m": 60, "h": 3600, "d": 86400}[interval[-1]]
    return int(interval[:-1]) * unit


async def use_rollups(
    store: Any, source: str, start: datetime | None, end: datetime | None, interval: str
) -> bool:
    """`rollups` and `mentions` are taken at their word; `auto` charts from the rollups when
    the span is long (at least ROLLUP_SPAN), the interval a whole number of 5-minute buckets,
    and the rollups cover the range (they lag indexing by a few seconds; a fresh install or
    directly indexed data may have none until `earful rollups rebuild`)."""
    if source != "auto":
        return source == "rollups"
    if start is None or end is None or end - start < ROLLUP_SPAN:
        return False
    if interval_seconds(interval) % 300:
        return False
    covered = await store.count("rollups", {"bool": {"filter": date_range(start, end, "bucket")}})
    return bool(covered)
