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


def date_range(
    start: datetime | None, end: datetime | None, field: str = "created_at"
) -> list[Any]:
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
        "query": {
            "bool": {"filter": [{"terms": {"brands": list(brands)}}, *date_range(start, end)]}
        },
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
        "query": {"bool": {"filter": [*scope, *date_range(bg_start, now)]}},
        "aggs": {
            "foreground": {
                "filter": {"bool": {"filter": date_range(fg_start, now)}},
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
                                        "bool": {
                                            "filter": [*scope, *date_range(bg_start, fg_start)]
                                        }
                                    },
                                },
                            }
                        },
                    },
                },
            },
            "background": {
                "filter": {"bool": {"filter": date_range(bg_start, fg_start)}},
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
        "query": {"bool": {"filter": [*scope, *date_range(start, now), {"match": {"text": term}}]}},
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
    must: list[Any] = [{"term": {"scope": scope}}, *date_range(start, end, "at")]
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
        "query": {"bool": {"filter": [*scope, *date_range(start, end)]}},
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
