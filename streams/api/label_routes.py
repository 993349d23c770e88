"""Corrections and model versions over HTTP.

POST /api/mentions/{id}/label   correct a mention's sentiment and/or topics (operator)
GET  /api/taxonomy              the topics a correction may name (the worker's taxonomy)
GET  /api/labels                the latest corrections (who, when, model said -> person said)
GET  /api/models                per language: corrections, held-out accuracy of the model in use

A correction is published to the `labels` topic (the durable record the model learns from) and
applied to the index at once (streams/labels.py), so the mention, search and the trend charts show
it on the next refresh; the worker applies it again from the topic, idempotently.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from earful.records import SentimentLabel
from earful.settings import ApiSettings
from models.topics import Taxonomy
from streams.api.auth import Authenticator, Principal
from streams.labels import LabelPublisher, apply_corrections, correction_for, find_mentions
from streams.model_adapt import MODEL_ACTIONS
from streams.search.base import SearchStore


class LabelRequest(BaseModel):
    sentiment: SentimentLabel | None = Field(default=None, examples=["positive"])
    topics: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        default=None, max_length=20, examples=[["gameplay"]]
    )
    comment: str = Field(default="", max_length=2000, description="Why (kept with the label)")
    #: Where the correction was made (the dashboard says so; other clients are "api").
    source: str = Field(default="api", pattern="^(api|dashboard)$")


def label_router(
    settings: ApiSettings,
    db: Callable[[], SearchStore],
    publisher: LabelPublisher,
    may_read: Any,
    taxonomy: Taxonomy,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    auth = Authenticator(settings)
    router = APIRouter(tags=["labels"])

    def operator(request: Request) -> Principal:
        return auth.check(request, "operator")

    may_write = Depends(operator)

    @router.post("/api/mentions/{mention_id}/label")
    async def label(
        body: LabelRequest,
        mention_id: Annotated[str, Path(max_length=200)],
        who: Principal = may_write,
    ) -> dict[str, Any]:
        """Correct what the model said about one mention. The correction overrides the mention's
        sentiment (and topics) in search and in the trend rollups at once, is kept with who made
        it and when, and is what `earful models adapt` learns from."""
        if body.sentiment is None and body.topics is None:
            raise HTTPException(422, "give a sentiment, topics, or both")
        topics = body.topics
        if topics is not None:
            # a topic the taxonomy lacks could never be tagged or learned: refused, not stored
            topics, unknown = taxonomy.spelled(topics)
            if unknown:
                raise HTTPException(422, taxonomy.unknown_text(unknown))
        found = await find_mentions(db(), [mention_id])
        if mention_id not in found:
            raise HTTPException(404, f"no mention {mention_id!r} in the index")
        correction = correction_for(
            found[mention_id],
            by=who.name,
            at=clock(),
            sentiment=body.sentiment,
            topics=topics,
            source=body.source,
            comment=body.comment,
        )
        # applied here first, so the answer shows it; then recorded on the topic, where the
        # worker finds it already applied (and applies it if this process died in between)
        await apply_corrections(db(), [correction])
        await publisher.publish([correction])
        after = await find_mentions(db(), [mention_id])
        return {"correction": correction.model_dump(mode="json"), "mention": after[mention_id]}

    @router.get("/api/taxonomy")
    async def topics(_: Principal = may_read) -> dict[str, Any]:
        """The topics mentions are tagged with, and a correction may name."""
        return {
            "name": taxonomy.name,
            "topics": [{"name": t.name, "description": t.description} for t in taxonomy.topics],
        }

    @router.get("/api/labels")
    async def labels(
        _: Principal = may_read,
        lang: str | None = None,
        size: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """The latest corrections, newest first."""
        query: dict[str, Any] = {"match_all": {}}
        if lang:
            query = {"term": {"lang": lang}}
        found = await db().search(
            "labels", {"size": size, "query": query, "sort": [{"at": "desc"}]}
        )
        total = found["hits"].get("total")
        return {
            "total": total["value"] if isinstance(total, dict) else None,
            "labels": [h["_source"] for h in found["hits"]["hits"]],
        }

    @router.get("/api/models")
    async def models(_: Principal = may_read) -> dict[str, Any]:
        """The model version in use and, per language, how many corrections exist and how the
        model in use scores on the held-out ones (measured when the version was published)."""
        counts = await db().search(
            "labels",
            {
                "size": 0,
                "aggs": {
                    "langs": {"terms": {"field": "lang", "size": 100, "missing": "unknown"}},
                    "sentiment": {"filter": {"exists": {"field": "sentiment"}}},
                    "topics": {"filter": {"exists": {"field": "topics"}}},
                },
            },
        )
        by_lang = {b["key"]: b["doc_count"] for b in counts["aggregations"]["langs"]["buckets"]}
        changes = await db().search(
            "audit",
            {
                "size": 10,
                "query": {"terms": {"action": list(MODEL_ACTIONS)}},
                "sort": [{"at": "desc"}],
            },
        )
        history = [h["_source"] for h in changes["hits"]["hits"]]
        latest: dict[str, Any] = (
            history[0]["details"] if history else {"version": "base", "evaluation": []}
        )
        evaluation = {row["lang"]: row for row in latest.get("evaluation", [])}
        # languages the version moves onto English (models/language_shift.py); versions
        # published before `in_use` was recorded: the ones estimated and adopted
        shifted = {
            row["lang"]: row
            for row in latest.get("shift_evaluation") or []
            if row.get("in_use", row.get("estimated") and row.get("adopted", True))
        }
        # sampled, too few for a shift of their own, and moved by the shipped starter shift
        starter = {
            row["lang"]
            for row in latest.get("shift_evaluation") or []
            if row.get("starter") and row["lang"] not in shifted
        }
        languages = []
        for lang in sorted(set(by_lang) | set(evaluation) | set(shifted) | starter):
            row = evaluation.get(lang, {})
            shift = shifted.get(lang)
            measured = row.get("after") if row.get("adopted") else row.get("before")
            languages.append(
                {
                    "lang": lang,
                    "corrections": by_lang.get(lang, 0),
                    "held_out": row.get("held_out", 0),
                    "accuracy": (measured or {}).get("accuracy"),
                    "accuracy_before": (row.get("before") or {}).get("accuracy")
                    if row.get("adopted")
                    else None,
                    "adapted": bool(row.get("adopted")),
                    "note": row.get("why", ""),
                    # texts the shift was estimated from and the share of labels it changed,
                    # or `kept`: the version kept an earlier version's shift
                    "shift": {
                        "texts": shift.get("texts"),
                        "changed": shift.get("changed"),
                        "kept": bool(shift.get("kept")),
                    }
                    if shift
                    else None,
                    "starter": lang in starter,
                }
            )
        return {
            "version": latest.get("version", "base"),
            "corrections": counts["hits"]["total"]["value"]
            if isinstance(counts["hits"].get("total"), dict)
            else None,
            "languages": languages,
            # the topic tagger: corrections so far and, when the version was published, how
            # its tags did on the held-out ones (before -> after, micro-F1)
            "topics": {
                "corrections": counts["aggregations"]["topics"]["doc_count"],
                **(latest.get("topic_evaluation") or {}),
            },
            "history": [
                {"at": h["at"], "action": h["action"], "version": h["target"], "by": h["actor"]}
                for h in history
            ],
        }

    return router
