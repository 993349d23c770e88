"""The facts of a report's alert, care and campaign sections, read from the alert, care-metric
and mention indexes (streams/report_facts.py gathers them with the brand's own figures)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.care.policies import CarePolicies
from reports.config import ReportDefinition
from reports.facts import AlertFacts, CampaignFacts, CareFacts
from reports.periods import Period
from streams.reports import POST_FIELDS, date_range, hits
from streams.search.base import SearchStore


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
                    date_range(start, end, "fired_at"),
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
                    "filter": [
                        {"term": {"scope": "all"}},
                        date_range(period.start, period.end, "at"),
                    ]
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
                    date_range(period.start, period.end, "fired_at"),
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
            "query": {"bool": {"filter": [{"term": {"brands": brand}}, date_range(a, b), terms]}},
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
        examples=tuple(hits(first.get("examples", {}))),
    )
