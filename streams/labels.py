"""People's corrections: the `labels` topic, the labels index, and their effect on mentions.

A correction travels like everything else in Earful: it is published to the `labels` topic (the
durable record, kept forever: it is the training data of `earful models adapt`) and the worker's
`labels` agent applies it to the search index. The API and the CLI also apply it themselves right
away, so the person who corrected a mention sees it corrected at once; applying is idempotent and
the newest correction of a mention wins, whoever applies it and in whatever order.

Applying means: the labels index holds the correction (one document per mention), the mention's
`sentiment`/`topics` become the corrected ones (the model's stay in `model_sentiment` and
`model_topics`), and the trend rollups of its bucket are recomputed. The index step looks the
labels up for every batch it writes, so a re-scored or redelivered mention keeps its correction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from earful.codec import InvalidMessage, decode_record, encode
from earful.records import Correction
from earful.settings import Settings
from streams import metrics
from streams.deadletters import DeadLetters
from streams.messages import Msg
from streams.rollups import rebuild
from streams.search.base import Doc, SearchStore, SearchUnavailable

log = logging.getLogger(__name__)

#: The polarity a person's label stands for, in place of the model's P(pos) - P(neg).
LABEL_SCORE = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}


def label_document(c: Correction) -> Doc:
    body = c.model_dump(mode="json")
    return Doc(id=c.mention_id, body=body)


def apply_correction(body: Mapping[str, Any], c: Correction) -> dict[str, Any]:
    """A mention document with the correction laid over the model's scores (pure)."""
    out = dict(body)
    # `model_sentiment` / `model_topics` exist once that field was corrected: what the model
    # said is kept from the first correction of the field, whichever field came first
    if c.sentiment is not None:
        if "model_sentiment" not in out:
            out["model_sentiment"] = out.get("sentiment")
        out["sentiment"] = {"label": c.sentiment, "score": LABEL_SCORE[c.sentiment], "probs": None}
    if c.topics is not None:
        if "model_topics" not in out:
            out["model_topics"] = list(out.get("topics") or [])
        out["topics"] = list(c.topics)
    out["corrected"] = {"by": c.by, "at": c.at.isoformat(), "source": c.source}
    return out


def correction_for(
    mention: dict[str, Any],
    *,
    by: str,
    at: datetime,
    sentiment: str | None = None,
    topics: Sequence[str] | None = None,
    source: str = "api",
    comment: str = "",
) -> Correction:
    """A correction of an indexed mention, carrying what the model saw and said.

    It keeps the person's earlier correction of the other field: the labels index (the training
    set of `earful models adapt`) holds one correction per mention, so correcting the topics of
    a mention whose sentiment was corrected must not drop that sentiment."""
    corrected_sentiment = "model_sentiment" in mention
    model = mention.get("model_sentiment") if corrected_sentiment else mention.get("sentiment")
    if sentiment is None and corrected_sentiment:
        sentiment = (mention.get("sentiment") or {}).get("label")
    if topics is None and "model_topics" in mention:
        topics = mention.get("topics") or []
    return Correction.model_validate(
        {
            "mention_id": mention["id"],
            "sentiment": sentiment,
            "topics": tuple(topics) if topics is not None else None,
            "by": by,
            "at": at,
            "source": source,
            "comment": comment,
            "text": mention.get("text"),
            "lang": mention.get("lang"),
            "brands": tuple(mention.get("brands") or ()),
            "created_at": mention.get("created_at"),
            "model_sentiment": (model or {}).get("label"),
            "model": mention.get("model") or None,
        }
    )


async def find_mentions(store: SearchStore, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    found = await store.search(
        "mentions", {"size": len(ids), "query": {"ids": {"values": list(ids)}}}
    )
    return {h["_id"]: h["_source"] for h in found["hits"]["hits"]}


async def find_labels(store: SearchStore, ids: Sequence[str]) -> dict[str, Correction]:
    """The newest correction of each of these mentions that has one."""
    if not ids:
        return {}
    found = await store.search(
        "labels", {"size": len(ids), "query": {"ids": {"values": list(ids)}}}
    )
    out: dict[str, Correction] = {}
    for hit in found["hits"]["hits"]:
        try:
            out[hit["_id"]] = Correction.model_validate(hit["_source"])
        except ValueError as exc:  # written by hand into the index: say so, keep the model's
            log.warning("ignoring unreadable label of mention %s: %s", hit["_id"], exc)
    return out


async def apply_corrections(store: SearchStore, corrections: Iterable[Correction]) -> int:
    """Store the corrections and lay them over their mentions and rollups; returns how many
    changed something. Idempotent: a correction already applied (the API applies it, then the
    worker reads it from the topic) changes nothing and recomputes no rollup, so a reader never
    sees the window in which a second writer rebuilds a bucket."""
    newest: dict[str, Correction] = {}
    for c in corrections:
        if c.mention_id not in newest or c.at >= newest[c.mention_id].at:
            newest[c.mention_id] = c
    if not newest:
        return 0
    known = await find_labels(store, list(newest))
    fresh = [
        c for c in newest.values() if c.mention_id not in known or c.at >= known[c.mention_id].at
    ]
    if not fresh:
        return 0
    new_labels = [c for c in fresh if c.mention_id not in known or c.at > known[c.mention_id].at]
    if new_labels:
        await store.bulk_index("labels", [label_document(c) for c in new_labels])
        await store.refresh("labels")
    mentions = await find_mentions(store, [c.mention_id for c in fresh])
    docs = []
    for c in fresh:
        body = mentions.get(c.mention_id)
        if (
            body is None
        ):  # labeled from a spreadsheet, or not indexed yet: the index step applies it
            continue
        if _applied_at(body) == c.at:
            continue
        at = datetime.fromisoformat(body["created_at"])
        docs.append(Doc(id=c.mention_id, body=apply_correction(body, c), at=at))
    if docs:
        await store.bulk_index("mentions", docs)
        await store.refresh("mentions")
        for hour in sorted({_hour(d.at) for d in docs if d.at is not None}):
            await rebuild(store, hour, hour + timedelta(hours=1))
    changed = len({c.mention_id for c in new_labels} | {d.id for d in docs})
    metrics.CORRECTIONS.inc(changed)
    return changed


def _applied_at(body: Mapping[str, Any]) -> datetime | None:
    """When the correction shown on this mention document was made (None: none is)."""
    at = (body.get("corrected") or {}).get("at")
    return datetime.fromisoformat(at) if at else None


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class LabelPublisher(Protocol):
    async def publish(self, corrections: Sequence[Correction]) -> None: ...


def publish_sync(settings: Settings, corrections: Sequence[Correction]) -> None:
    """Publish corrections to the `labels` topic and wait until Kafka has them (acks=all)."""
    from kafka import KafkaProducer

    from streams.kafka_admin import client_config, ensure_topics

    ensure_topics(settings.kafka)
    producer = KafkaProducer(acks="all", **client_config(settings.kafka))
    try:
        futures = [
            producer.send(settings.topics.labels, value=encode(c), key=c.mention_id.encode())
            for c in corrections
        ]
        for future in futures:
            future.get(30)
    finally:
        producer.close()


class KafkaLabelPublisher:
    """For the API: the blocking producer runs in a thread, off the event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings

    async def publish(self, corrections: Sequence[Correction]) -> None:
        await asyncio.to_thread(publish_sync, self.settings, corrections)


class LabelStep:
    """Agent step `labels`: corrections from the topic -> the index (waits out outages)."""

    def __init__(
        self,
        store: Callable[[], Any],
        deadletters: DeadLetters,
        *,
        retry_pause_s: float = 5.0,
    ):
        self._store = store
        self.deadletters = deadletters
        self.retry_pause_s = retry_pause_s

    async def handle(self, batch: Sequence[Msg]) -> int:
        corrections: list[Correction] = []
        for msg in batch:
            try:
                corrections.append(decode_record(msg.value or b"", Correction))
            except InvalidMessage as exc:
                metrics.DEADLETTERS.labels(stage="labels", error=exc.error_type).inc()
                await self.deadletters.send(msg, exc)
        while corrections:
            try:
                return await apply_corrections(await self._store(), corrections)
            except SearchUnavailable as exc:
                log.error(
                    "corrections not applied (%s); retrying in %.0fs", exc, self.retry_pause_s
                )
                await asyncio.sleep(self.retry_pause_s)
        return 0
