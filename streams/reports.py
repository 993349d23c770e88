"""Reports wired to the search indexes: fetch a period's facts, render, archive and deliver.

The numbers come from plain aggregations (the same on Elasticsearch and OpenSearch); the report
itself is composed and rendered by the pure `reports` package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.care.policies import CarePolicies
from earful.projects import Project
from earful.text import STOPWORDS
from reports.config import ReportDefinition
from reports.facts import (
    AlertFacts,
    BrandFacts,
    CampaignFacts,
    CareFacts,
    Day,
    PeriodFacts,
    Post,
    ReportFacts,
    TermFacts,
    TopicFacts,
)
from reports.periods import Period
from streams.search.base import SearchStore

log = logging.getLogger(__name__)
POST_FIELDS = ["id", "text", "author", "created_at", "reach", "engagement_total", "sentiment"]


def _range(start: datetime, end: datetime, field: str = "created_at") -> dict[str, Any]:
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


def _hits(agg: dict[str, Any]) -> list[Post]:
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
        "query": {"bool": {"filter": [{"terms": {"brands": list(brands)}}, _range(start, end)]}},
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
            "bool": {"filter": [{"term": {"brands": brand}}, _range(period.start, period.end)]}
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
                                        _range(background.start, background.end),
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
            example=next(iter(_hits(b["example"])), None),
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
                            _range(period.start, period.end),
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
                example=next(iter(_hits(example)), None),
            )
        )
    return days, _hits(aggs.get("top_posts", {})), topics, terms


async def alert_facts(
    store: SearchStore, brand: str, start: datetime, end: datetime
) -> list[AlertFacts]:
    """The period's listening alerts (PR and product: care SLA alerts are counted by the care
    section), one per episode: its first notice, at the highest severity it reached."""
    body = {
        "size": 2000,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"brand": brand}},
                    {"term": {"status": "firing"}},
                    _range(start, end, "fired_at"),
                ],
                "must_not": [{"prefix": {"kind": "sla_"}}, {"term": {"team": "care"}}],
            }
        },
        "sort": [{"fired_at": "asc"}],
    }
    firing: dict[str, dict[str, Any]] = {}
    rank = {"info": 0, "warning": 1, "critical": 2}
    for hit in (await store.search("alerts", body))["hits"]["hits"]:
        notice = hit["_source"]
        first = firing.setdefault(notice["fingerprint"], dict(notice))
        if rank.get(notice["severity"], 0) > rank.get(first["severity"], 0):
            first["severity"] = notice["severity"]  # escalated within the episode
    if not firing:
        return []
    fps = list(firing)
    resolved = await store.search(
        "alerts",
        {
            "size": 500,
            "query": {
                "bool": {
                    "filter": [{"terms": {"fingerprint": fps}}, {"term": {"status": "resolved"}}]
                }
            },
        },
    )
    ended = {
        h["_source"]["fingerprint"]: h["_source"]["fired_at"] for h in resolved["hits"]["hits"]
    }
    acks = await store.search(
        "audit",
        {
            "size": 500,
            "query": {
                "bool": {"filter": [{"term": {"action": "ack"}}, {"terms": {"target": fps}}]}
            },
            "sort": [{"at": "asc"}],
        },
    )
    acked: dict[str, str] = {}
    for h in acks["hits"]["hits"]:
        acked.setdefault(h["_source"]["target"], h["_source"]["at"])
    out = []
    for fp, a in firing.items():
        fired = datetime.fromisoformat(a["fired_at"])
        started = datetime.fromisoformat(a.get("started_at") or a["fired_at"])
        out.append(
            AlertFacts(
                kind=a["kind"],
                brand=a["brand"],
                severity=a["severity"],
                team=(a.get("labels") or {}).get("team", ""),
                fired_at=fired,
                summary=a.get("summary", ""),
                acknowledged_after_s=(datetime.fromisoformat(acked[fp]) - fired).total_seconds()
                if fp in acked
                else None,
                resolved_after_s=(datetime.fromisoformat(ended[fp]) - started).total_seconds()
                if fp in ended
                else None,
            )
        )
    return out


async def care_facts(
    store: SearchStore, period: Period, policies: CarePolicies
) -> CareFacts | None:
    result = await store.search(
        "care-metrics",
        {
            "size": 5000,
            "query": {
                "bool": {
                    "filter": [{"term": {"scope": "all"}}, _range(period.start, period.end, "at")]
                }
            },
            "sort": [{"at": "asc"}],
        },
    )
    snaps = [h["_source"] for h in result["hits"]["hits"]]
    if not snaps:
        return None
    # Each snapshot covers the 24 h before it: the last one of each local day stands for it.
    zone = ZoneInfo(period.tz)
    per_day: dict[date, dict[str, Any]] = {}
    for s in snaps:
        per_day[datetime.fromisoformat(s["at"]).astimezone(zone).date()] = s
    days = list(per_day.values())

    def mean(field: str) -> float | None:
        values = [float(d[field]) for d in days if d.get(field) is not None]
        return sum(values) / len(values) if values else None

    def weighted(field: str, weight: str) -> tuple[float | None, int]:
        pairs = [
            (float(d[field]), int(d.get(weight) or 0)) for d in days if d.get(field) is not None
        ]
        n = sum(w for _, w in pairs)
        return (sum(v * w for v, w in pairs) / n if n else None), n

    async def sla_alerts(kind: str) -> int:
        query = {
            "bool": {
                "filter": [
                    {"term": {"kind": kind}},
                    {"term": {"status": "firing"}},
                    _range(period.start, period.end, "fired_at"),
                ]
            }
        }
        return await store.count("alerts", query)

    csat, responses = weighted("csat_mean", "csat_responses")
    shift, shifts = weighted("sentiment_shift_mean", "sentiment_shifts")
    allowances = [
        p.within.total_seconds() for p in policies.policies if p.metric == "first_response"
    ]
    return CareFacts(
        received=sum(int(d.get("received") or 0) for d in days),
        replied=sum(int(d.get("replied") or 0) for d in days),
        first_reply_median_s=mean("first_response_median_s"),
        first_reply_p90_s=mean("first_response_p90_s"),
        reply_wait_median_s=mean("reply_wait_median_s"),
        backlog_end=int(snaps[-1].get("backlog") or 0),
        breaches=await sla_alerts("sla_breach"),
        warnings=await sla_alerts("sla_warning"),
        sla_first_reply_s=max(allowances) if allowances else None,
        csat_mean=csat,
        csat_responses=responses,
        sentiment_shift=shift,
        sentiment_shifts=shifts,
    )


async def campaign_facts(
    store: SearchStore, brand: str, definition: ReportDefinition, tz: str
) -> CampaignFacts | None:
    c = definition.campaign
    if c is None:
        return None
    start = datetime(c.start.year, c.start.month, c.start.day, tzinfo=ZoneInfo(tz))
    terms = {
        "bool": {
            "should": [{"match_phrase": {"text": term}} for term in c.terms],
            "minimum_should_match": 1,
        }
    }

    async def week(a: datetime, b: datetime, examples: int) -> dict[str, Any]:
        body = {
            "size": 0,
            "query": {"bool": {"filter": [{"term": {"brands": brand}}, _range(a, b), terms]}},
            "aggs": {
                "reach": {"sum": {"field": "reach"}},
                "negative": {"filter": {"term": {"sentiment.label": "negative"}}},
                "examples": {
                    "top_hits": {
                        "size": examples,
                        "sort": [{"engagement_total": {"order": "desc", "missing": "_last"}}],
                        "_source": POST_FIELDS,
                    }
                },
            },
        }
        r = await store.search("mentions", body)
        return {"n": r["hits"]["total"]["value"], **r.get("aggregations", {})}

    first = await week(start, start + timedelta(days=7), 3)
    before = await week(start - timedelta(days=7), start, 0)
    return CampaignFacts(
        name=c.name,
        start=c.start,
        first_week=int(first["n"]),
        baseline_week=int(before["n"]),
        reach=int(first.get("reach", {}).get("value") or 0),
        negative=int(first.get("negative", {}).get("doc_count", 0)),
        examples=tuple(_hits(first.get("examples", {}))),
    )


async def period_facts(
    store: SearchStore,
    definition: ReportDefinition,
    project: Project,
    period: Period,
    policies: CarePolicies,
) -> PeriodFacts:
    voices = await brand_facts(store, project.brands, period.start, period.end)
    days, posts, topics, terms = await detail_facts(store, project.brand, period, period.previous())
    alerts = await alert_facts(store, project.brand, period.start, period.end)
    care = await care_facts(store, period, policies) if "care" in definition.sections else None
    return PeriodFacts(
        label=period.label,
        start=period.start,
        end=period.end,
        brand=voices[0],
        voices=tuple(voices),
        days=tuple(days),
        top_posts=tuple(posts),
        topics=tuple(topics),
        terms=tuple(terms),
        alerts=tuple(alerts),
        care=care,
    )


async def newest_mention(store: SearchStore) -> datetime | None:
    r = await store.search(
        "mentions", {"size": 0, "aggs": {"last": {"max": {"field": "created_at"}}}}
    )
    value = r.get("aggregations", {}).get("last", {}).get("value_as_string")
    return datetime.fromisoformat(value) if value else None


def completeness(
    current: PeriodFacts, previous: PeriodFacts, data_last: datetime | None, now: datetime
) -> list[str]:
    """Why the numbers may be incomplete, in words the report prints."""
    notes = []
    if now < current.end:
        notes.append(f"The period is still running: figures up to {now:%Y-%m-%d %H:%M} UTC.")
    if data_last is None:
        notes.append("No mentions are indexed yet.")
    elif data_last < min(current.end, now) - timedelta(hours=24):
        notes.append(
            f"The newest indexed mention is from {data_last:%Y-%m-%d %H:%M} UTC, before the period "
            "ends: ingestion may be lagging or stopped."
        )
    had_before = sum(d.mentions for d in previous.days) > 0
    empty = [
        d.day.isoformat()
        for d in current.days
        if d.mentions == 0
        and (
            data_last is None
            or datetime(d.day.year, d.day.month, d.day.day, tzinfo=UTC) < data_last
        )
    ]
    if had_before and empty:
        notes.append(f"No mentions on {', '.join(empty[:7])}: a gap in the data or in collection.")
    return notes


async def fetch_facts(
    store: SearchStore,
    definition: ReportDefinition,
    project: Project,
    period: Period,
    policies: CarePolicies,
    now: datetime,
) -> ReportFacts:
    current = await period_facts(store, definition, project, period, policies)
    previous = await period_facts(store, definition, project, period.previous(), policies)
    if "campaign" in definition.sections:
        current = current.model_copy(
            update={"campaign": await campaign_facts(store, project.brand, definition, period.tz)}
        )
    data_last = await newest_mention(store)
    return ReportFacts(
        current=current,
        previous=previous,
        generated_at=now,
        data_last=data_last,
        incomplete=tuple(completeness(current, previous, data_last, now)),
    )
