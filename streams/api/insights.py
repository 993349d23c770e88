"""Search bodies and their reading for the insight views (pure: no I/O).

- share of voice: a project's brand against its competitors, over time, with net sentiment;
- emerging: terms and topics rising now against their own background, with example posts;
- care response times: the care metrics series against the SLA targets.

Share of voice counts a mention once for every brand it names (the usual definition: a post
comparing two airlines is a voice for both), so shares sum to 1 over the project's brands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from earful.text import STOPWORDS

EXAMPLE_FIELDS = ["id", "text", "created_at", "author", "platform", "sentiment", "reach", "url"]


def _range(start: datetime | None, end: datetime | None, field: str = "created_at") -> list[Any]:
    if not (start or end):
        return []
    rng: dict[str, str] = {}
    if start:
        rng["gte"] = start.isoformat()
    if end:
        rng["lt"] = end.isoformat()
    return [{"range": {field: rng}}]


def _per_brand(brands: Sequence[str]) -> dict[str, Any]:
    return {
        "filters": {"filters": {b: {"term": {"brands": b}} for b in brands}},
        "aggs": {
            "sentiment": {"terms": {"field": "sentiment.label"}},
            "reach": {"sum": {"field": "reach"}},
            "engagement": {"sum": {"field": "engagement_total"}},
        },
    }


def share_of_voice_body(
    brands: Sequence[str], start: datetime | None, end: datetime | None, interval: str
) -> dict[str, Any]:
    return {
        "size": 0,
        "query": {"bool": {"filter": [{"terms": {"brands": list(brands)}}, *_range(start, end)]}},
        "aggs": {
            "brands": _per_brand(brands),
            "over_time": {
                "date_histogram": {
                    "field": "created_at",
                    "fixed_interval": interval,
                    "min_doc_count": 0,
                },
                "aggs": {
                    "brands": {"filters": {"filters": {b: {"term": {"brands": b}} for b in brands}}}
                },
            },
        },
    }


def _mix(bucket: dict[str, Any]) -> dict[str, int]:
    return {str(b["key"]): int(b["doc_count"]) for b in bucket["sentiment"]["buckets"]}


def net_sentiment(mix: dict[str, int], n: int) -> float | None:
    """(positive − negative) / all, in [−1, 1]; None with no mentions."""
    return (mix.get("positive", 0) - mix.get("negative", 0)) / n if n else None


def sov_answer(
    brands: Sequence[str],
    voices: dict[str, tuple[int, dict[str, int], int, int]],
    points: list[tuple[str, dict[str, int]]],
) -> dict[str, Any]:
    """The share-of-voice answer from per-brand (mentions, sentiment mix, reach, engagement)
    and per-interval mention counts, however they were counted (mentions or rollups)."""
    empty: tuple[int, dict[str, int], int, int] = (0, {}, 0, 0)
    total = sum(voices.get(b, empty)[0] for b in brands)
    rows = []
    for b in brands:
        n, mix, reach, engagement = voices.get(b, empty)
        rows.append(
            {
                "brand": b,
                "mentions": n,
                "share": n / total if total else None,
                "sentiment": mix,
                "net_sentiment": net_sentiment(mix, n),
                "reach": reach,
                "engagement": engagement,
            }
        )
    series = []
    for at, found in points:
        counts = {b: found.get(b, 0) for b in brands}
        all_ = sum(counts.values())
        series.append(
            {
                "at": at,
                "mentions": counts,
                "share": {b: (c / all_ if all_ else None) for b, c in counts.items()},
            }
        )
    return {"total": total, "brands": rows, "series": series}


def read_share_of_voice(brands: Sequence[str], result: dict[str, Any]) -> dict[str, Any]:
    aggs = result.get("aggregations", {})
    per = aggs.get("brands", {}).get("buckets", {})
    voices = {
        b: (
            int(bucket["doc_count"]),
            _mix(bucket),
            int(bucket.get("reach", {}).get("value") or 0),
            int(bucket.get("engagement", {}).get("value") or 0),
        )
        for b, bucket in per.items()
    }
    points = [
        (p["key_as_string"], {b: int(x["doc_count"]) for b, x in p["brands"]["buckets"].items()})
        for p in aggs.get("over_time", {}).get("buckets", [])
    ]
    return sov_answer(brands, voices, points)


def emerging_body(
    brand: str | None, now: datetime, window_s: float, background_s: float, size: int = 10
) -> dict[str, Any]:
    """Foreground: the last `window_s` before `now`; background: the `background_s` before it."""
    fg_start = now - timedelta(seconds=window_s)
    bg_start = fg_start - timedelta(seconds=background_s)
    scope = [{"term": {"brands": brand}}] if brand else []
    examples = {
        "top_hits": {
            "size": 2,
            "sort": [{"reach": {"order": "desc", "missing": "_last"}}],
            "_source": EXAMPLE_FIELDS,
        }
    }
    return {
        "size": 0,
        "query": {"bool": {"filter": [*scope, *_range(bg_start, now)]}},
        "aggs": {
            "foreground": {
                "filter": {"bool": {"filter": _range(fg_start, now)}},
                "aggs": {
                    "topics": {
                        "terms": {"field": "topics", "size": 50},
                        "aggs": {"examples": examples},
                    },
                    "sample": {
                        "sampler": {"shard_size": 2000},
                        "aggs": {
                            "terms": {
                                "significant_text": {
                                    "field": "text",
                                    "size": size,
                                    "min_doc_count": 3,
                                    "filter_duplicate_text": True,
                                    # the function words detection never calls a term: a
                                    # week of complaints reads "because" as rising
                                    "exclude": sorted(STOPWORDS),
                                    "background_filter": {
                                        "bool": {"filter": [*scope, *_range(bg_start, fg_start)]}
                                    },
                                },
                            }
                        },
                    },
                },
            },
            "background": {
                "filter": {"bool": {"filter": _range(bg_start, fg_start)}},
                "aggs": {"topics": {"terms": {"field": "topics", "size": 100}}},
            },
        },
    }


def term_examples_body(
    term: str, brand: str | None, now: datetime, window_s: float, size: int = 2
) -> dict[str, Any]:
    """Example posts for an emerging term (significant_text takes no sub-aggregations)."""
    scope = [{"term": {"brands": brand}}] if brand else []
    start = now - timedelta(seconds=window_s)
    return {
        "size": size,
        "query": {"bool": {"filter": [*scope, *_range(start, now), {"match": {"text": term}}]}},
        "sort": [{"reach": {"order": "desc", "missing": "_last"}}],
        "_source": EXAMPLE_FIELDS,
    }


def rising(fg: int, fg_total: int, bg: int, bg_total: int, *, prior: float = 1.0) -> float:
    """How many times more often something appears now than in its background (a smoothed
    rate ratio: `prior` pseudo-mentions keep a topic never seen before from dividing by 0)."""
    now = fg / fg_total if fg_total else 0.0
    before = (bg + prior) / (bg_total + prior) if (bg_total + prior) else 1.0
    return now / before if before else 0.0


def _examples(bucket: dict[str, Any]) -> list[dict[str, Any]]:
    return [h["_source"] for h in bucket.get("examples", {}).get("hits", {}).get("hits", [])]


def read_emerging(
    result: dict[str, Any], *, min_mentions: int = 3, min_lift: float = 1.5, size: int = 10
) -> dict[str, Any]:
    aggs = result.get("aggregations", {})
    fg = aggs.get("foreground", {})
    bg = aggs.get("background", {})
    fg_total, bg_total = int(fg.get("doc_count", 0)), int(bg.get("doc_count", 0))
    before = {b["key"]: int(b["doc_count"]) for b in bg.get("topics", {}).get("buckets", [])}
    topics = []
    for b in fg.get("topics", {}).get("buckets", []):
        n = int(b["doc_count"])
        lift = rising(n, fg_total, before.get(b["key"], 0), bg_total)
        if n >= min_mentions and lift >= min_lift:
            topics.append(
                {
                    "topic": b["key"],
                    "mentions": n,
                    "background": before.get(b["key"], 0),
                    "lift": round(lift, 2),
                    "examples": _examples(b),
                }
            )
    topics.sort(key=lambda t: (-t["lift"], -t["mentions"]))
    # significant_text scores a common word that rose a little as highly as a rare one that
    # rose a lot ("flight": 474 of 2,000 sampled now, 503 of 2,559 before): a term is listed
    # where it rose as a topic must, its share of the sampled mentions against its background
    sampled = int(fg.get("sample", {}).get("doc_count", fg_total))
    terms = []
    for b in fg.get("sample", {}).get("terms", {}).get("buckets", []):
        n, seen = int(b["doc_count"]), int(b.get("bg_count", 0))
        lift = rising(n, sampled, seen, bg_total)
        if n >= min_mentions and lift >= min_lift:
            terms.append(
                {
                    "term": b["key"],
                    "mentions": n,
                    "background": seen,
                    "lift": round(lift, 2),
                    "score": round(float(b.get("score", 0.0)), 3),
                    "examples": _examples(b),
                }
            )
    return {
        "mentions": fg_total,
        "background_mentions": bg_total,
        "topics": topics[:size],
        "terms": terms[:size],
    }


CARE_FIELDS = (
    "received",
    "replied",
    "response_rate",
    "first_response_median_s",
    "first_response_p90_s",
    "reply_wait_median_s",
    "reply_wait_p90_s",
    "backlog",
    "backlog_oldest_s",
    "csat_mean",
    "csat_responses",
    "sentiment_shift_mean",
)


def care_body(
    start: datetime | None, end: datetime | None, scope: str, key: str | None, size: int
) -> dict[str, Any]:
    must: list[Any] = [{"term": {"scope": scope}}, *_range(start, end, "at")]
    if key:
        must.append({"term": {"key": key}})
    return {"size": size, "query": {"bool": {"filter": must}}, "sort": [{"at": "asc"}]}


def read_care(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for hit in result["hits"]["hits"]:
        src = hit["_source"]
        out.append({"at": src["at"], "key": src.get("key"), **{f: src.get(f) for f in CARE_FIELDS}})
    return out


def topics_body(
    brand: str | None, start: datetime | None, end: datetime | None, interval: str, size: int
) -> dict[str, Any]:
    scope = [{"term": {"brands": brand}}] if brand else []
    return {
        "size": 0,
        "query": {"bool": {"filter": [*scope, *_range(start, end)]}},
        "aggs": {
            "top": {"terms": {"field": "topics", "size": size}},
            "over_time": {
                "date_histogram": {
                    "field": "created_at",
                    "fixed_interval": interval,
                    "min_doc_count": 0,
                },
                "aggs": {"topics": {"terms": {"field": "topics", "size": size}}},
            },
        },
    }


def read_topics(result: dict[str, Any]) -> dict[str, Any]:
    aggs = result.get("aggregations", {})
    top = [str(b["key"]) for b in aggs.get("top", {}).get("buckets", [])]
    series = []
    for point in aggs.get("over_time", {}).get("buckets", []):
        counts = {str(b["key"]): int(b["doc_count"]) for b in point["topics"]["buckets"]}
        series.append({"at": point["key_as_string"], "topics": {t: counts.get(t, 0) for t in top}})
    return {"topics": top, "series": series}


# -- from the trend rollups ------------------------------------------------------------------
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
        *_range(start, end, "bucket"),
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
    covered = await store.count("rollups", {"bool": {"filter": _range(start, end, "bucket")}})
    return bool(covered)
