"""Index templates owned by Earful. `dynamic: false` keeps unknown fields in _source, unindexed,
so a newer worker writing extra fields never breaks an older mapping."""

from __future__ import annotations

from typing import Any

KEYWORD = {"type": "keyword"}
LONG = {"type": "long"}
DATE = {"type": "date"}
FLOAT = {"type": "float"}


def _mentions(store_embeddings: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": KEYWORD,
        "platform": KEYWORD,
        "created_at": DATE,
        "indexed_at": DATE,
        "author": {"properties": {"id": KEYWORD, "handle": KEYWORD, "followers": LONG}},
        "text": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "lang": KEYWORD,
        "lang_detected": {"type": "boolean"},
        "brands": KEYWORD,
        "url": {"type": "keyword", "index": False},
        "engagement": {"properties": {k: LONG for k in ("likes", "shares", "replies", "views")}},
        "reach": LONG,
        "engagement_total": LONG,
        "sentiment": {
            "properties": {
                "label": KEYWORD,
                "score": FLOAT,
                "probs": {"type": "float", "index": False},
            }
        },
        "topics": KEYWORD,
        "hashtags": KEYWORD,
        "model": KEYWORD,
        # a person's correction overrides `sentiment`/`topics`; what the model said stays here
        "model_sentiment": {"properties": {"label": KEYWORD, "score": FLOAT}},
        "model_topics": KEYWORD,
        "corrected": {"properties": {"by": KEYWORD, "at": DATE, "source": KEYWORD}},
    }
    if store_embeddings:
        props["embedding"] = {"type": "float", "index": False}
    return {"dynamic": False, "properties": props}


ALERTS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "id": KEYWORD,
        "fingerprint": KEYWORD,
        "kind": KEYWORD,
        "team": KEYWORD,
        "brand": KEYWORD,
        "rule": KEYWORD,
        "status": KEYWORD,
        "severity": KEYWORD,
        "topic": KEYWORD,
        "term": KEYWORD,
        "fired_at": DATE,
        "started_at": DATE,
        "window_start": DATE,
        "window_end": DATE,
        "summary": {"type": "text"},
        "labels": {"type": "object", "dynamic": True},
        "evidence": {"type": "object", "enabled": False},
    },
}

CARE_METRICS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "at": DATE,
        "window_start": DATE,
        "window_end": DATE,
        "scope": KEYWORD,
        "key": KEYWORD,
        "channel": KEYWORD,
        "team": KEYWORD,
        "agent": KEYWORD,
        "received": LONG,
        "replied": LONG,
        "first_responses": LONG,
        "response_rate": FLOAT,
        "first_response_median_s": FLOAT,
        "first_response_p90_s": FLOAT,
        "reply_wait_median_s": FLOAT,
        "reply_wait_p90_s": FLOAT,
        "backlog": LONG,
        "backlog_oldest_s": FLOAT,
        "sentiment_shift_mean": FLOAT,
        "sentiment_shifts": LONG,
        "csat_mean": FLOAT,
        "csat_responses": LONG,
    },
}

#: Who did what through the API, and why (acknowledgements, silences, their expiry).
AUDIT: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "at": DATE,
        "actor": KEYWORD,
        "role": KEYWORD,
        "action": KEYWORD,
        "target": KEYWORD,
        "reason": {"type": "text"},
        "forced": {"type": "boolean"},
        "details": {"type": "object", "enabled": False},
    },
}

#: People's corrections, one document per mention (the latest wins): what overrides the model in
#: search and rollups, and the training set of `earful models adapt`.
LABELS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "mention_id": KEYWORD,
        "sentiment": KEYWORD,
        "topics": KEYWORD,
        "by": KEYWORD,
        "at": DATE,
        "source": KEYWORD,
        "comment": {"type": "text"},
        "text": {"type": "text", "index": False},
        "lang": KEYWORD,
        "brands": KEYWORD,
        "created_at": DATE,
        "model_sentiment": KEYWORD,
        "model": KEYWORD,
    },
}

#: One document per report and period: the scheduler's claim (created once, by one worker) and
#: where the rendered files are.
REPORTS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "report": KEYWORD,
        "period": KEYWORD,
        "status": KEYWORD,
        "claimed_by": KEYWORD,
        "claimed_at": DATE,
        "sent_at": DATE,
        "detail": {"type": "text"},
        "files": {"type": "object", "enabled": False},
    },
}

#: Trend rollups: mentions counted per 5-minute and 1-hour bucket x brand x topic x sentiment x
#: language x platform (`_all` marks a dimension summed over), so month-long charts never scan
#: mentions. Rebuilt from the mention index, so always consistent with it.
ROLLUPS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "interval": KEYWORD,
        "bucket": DATE,
        "brand": KEYWORD,
        "topic": KEYWORD,
        "sentiment": KEYWORD,
        "lang": KEYWORD,
        "platform": KEYWORD,
        "count": LONG,
        "reach": LONG,
        "engagement": LONG,
        "score_sum": FLOAT,
    },
}


def index_templates(
    prefix: str,
    *,
    shards: int = 1,
    replicas: int = 0,
    store_embeddings: bool = False,
) -> dict[str, dict[str, Any]]:
    settings = {
        "number_of_shards": shards,
        "number_of_replicas": replicas,
        "refresh_interval": "1s",
    }
    return {
        f"{prefix}-mentions": {
            "index_patterns": [f"{prefix}-mentions-*"],
            "priority": 100,
            "template": {"settings": settings, "mappings": _mentions(store_embeddings)},
        },
        f"{prefix}-alerts": {
            "index_patterns": [f"{prefix}-alerts"],
            "priority": 100,
            "template": {"settings": settings, "mappings": ALERTS},
        },
        f"{prefix}-audit": {
            "index_patterns": [f"{prefix}-audit"],
            "priority": 100,
            "template": {"settings": settings, "mappings": AUDIT},
        },
        f"{prefix}-labels": {
            "index_patterns": [f"{prefix}-labels"],
            "priority": 100,
            "template": {"settings": settings, "mappings": LABELS},
        },
        f"{prefix}-reports": {
            "index_patterns": [f"{prefix}-reports"],
            "priority": 100,
            "template": {"settings": settings, "mappings": REPORTS},
        },
        f"{prefix}-rollups": {
            "index_patterns": [f"{prefix}-rollups-*"],
            "priority": 100,
            "template": {"settings": settings, "mappings": ROLLUPS},
        },
        f"{prefix}-care-metrics": {
            "index_patterns": [f"{prefix}-care-metrics-*"],
            "priority": 100,
            "template": {"settings": settings, "mappings": CARE_METRICS},
        },
    }
