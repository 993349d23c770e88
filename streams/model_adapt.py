"""`earful models adapt`, by hand or on the worker's schedule: corrections -> a new model version.

Reads every correction from the labels index, embeds the corrected texts with the sentiment
encoder in use, fits and judges candidate heads per language (models/adapt.py), and the topics'
prototypes from the topic corrections (models/topic_adapt.py, on the embeddings topics are
tagged from); when a language's candidate or the topics are not worse on their held-out
corrections, it publishes a version
(models/versions.py) that the worker picks up without a restart. Each publication is written to
the audit index with the per-language figures, which is what the dashboard shows.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from earful.records import SENTIMENT_LABELS, Correction
from models.adapt import AdaptResult, Example, adapt
from models.analyzer import TextAnalyzer
from models.language_shift import MIN_TEXTS
from models.preprocess import normalize
from models.scorers import EncoderHeadScorer, SequenceClassifierScorer
from models.shift_adapt import ShiftReport, estimate_shifts
from models.topic_adapt import TopicExample, TopicReport, adapt_topics
from models.versions import ModelVersion, VersionStore
from streams.search.base import Doc, SearchStore

log = logging.getLogger(__name__)

MODEL_ACTIONS = ("model.publish", "model.use", "model.rollback")


@dataclass
class AdaptRun:
    corrections: int
    result: AdaptResult | None = None
    topics: TopicReport | None = None
    version: ModelVersion | None = None
    #: Why nothing was trained (no corrections, nothing new since the version in use).
    skipped: str = ""
    #: Why no sentiment head was trained (a hub classifier: only its topics adapt).
    sentiment_skipped: str = ""
    #: Language shifts estimated from the stream sample (models/shift_adapt.py).
    shifts: ShiftReport | None = None


async def read_corrections(store: SearchStore) -> list[Correction]:
    """Every sentiment or topic correction in the labels index, oldest first."""
    out: list[Correction] = []
    query = {
        "bool": {
            "should": [{"exists": {"field": "sentiment"}}, {"exists": {"field": "topics"}}],
            "minimum_should_match": 1,
        }
    }
    sort = ({"at": "asc"}, {"mention_id": "asc"})
    async for page in store.scan("labels", query, sort=sort):
        for body in page:
            try:
                out.append(Correction.model_validate(body))
            except ValueError as exc:
                log.warning("skipping unreadable correction %s: %s", body.get("mention_id"), exc)
    return out


async def read_language_sample(
    store: SearchStore, per_language: int = 1000, languages: int = 12
) -> dict[str, list[str]]:
    """The newest original mentions (no retweets) of each of the most frequent languages in the
    mentions index: the unlabeled text language shifts are estimated from. Sized so that a
    scheduled adapt, which holds the scoring thread, encodes at most ~12,000 texts (a couple of
    minutes on 2 cores, once a day; a team with two languages: seconds)."""
    originals = {"bool": {"must_not": [{"prefix": {"text.raw": "RT @"}}]}}
    body = {
        "size": 0,
        "query": originals,
        "aggs": {"langs": {"terms": {"field": "lang", "size": languages}}},
    }
    found = await store.search("mentions", body)
    buckets = found.get("aggregations", {}).get("langs", {}).get("buckets", [])
    out: dict[str, list[str]] = {}
    for bucket in buckets:
        lang = str(bucket["key"])
        page = await store.search(
            "mentions",
            {
                "size": per_language,
                "query": {"bool": {**originals["bool"], "filter": [{"term": {"lang": lang}}]}},
                "sort": [{"created_at": "desc"}],
                "_source": ["text"],
            },
        )
        texts = [h["_source"].get("text", "") for h in page.get("hits", {}).get("hits", [])]
        out[lang] = [t for t in dict.fromkeys(texts) if t]  # a copy-paste wave counts once
    return out


def examples_from(corrections: list[Correction], analyzer: TextAnalyzer) -> list[Example]:
    """Corrections with a text -> (language, label, embedding), embedded as the worker does."""
    usable = [c for c in corrections if c.sentiment is not None and c.text]
    texts = [normalize(c.text or "") for c in usable]
    langs = []
    for c, text in zip(usable, texts, strict=True):
        if c.lang:
            langs.append(c.lang.lower().split("-")[0])
        elif analyzer.language is not None:
            langs.append(analyzer.language.identify(text)[0] or "*")
        else:
            langs.append("*")
    if not texts:
        return []
    embeddings = analyzer.scorer.encoder.encode(texts)
    shipped: list[np.ndarray | None] = [None] * len(texts)
    scorer = analyzer.scorer
    topic_encoder = analyzer.topic_encoder
    if (
        analyzer.blend is not None
        and topic_encoder is not None
        and isinstance(scorer, EncoderHeadScorer)
    ):
        # what the worker shows, blended as it blends: for a language still on the shipped
        # head, the "before" a candidate must not be worse than
        in_use = scorer.probs(embeddings, langs)
        frozen = topic_encoder.encode(texts)
        shipped = list(analyzer.blended(in_use, frozen, langs))
    return [
        Example(c.mention_id, lang, SENTIMENT_LABELS.index(c.sentiment or "neutral"), emb, blend)
        for c, lang, emb, blend in zip(usable, langs, embeddings, shipped, strict=True)
    ]


def topic_examples_from(
    corrections: list[Correction], analyzer: TextAnalyzer
) -> list[TopicExample]:
    """Topic corrections with a text -> (topics, embedding), embedded as the worker tags them."""
    usable = [c for c in corrections if c.topics is not None and c.text]
    if not usable or analyzer.tagger is None:
        return []
    texts = [normalize(c.text or "") for c in usable]
    encoder = analyzer.topic_encoder or analyzer.scorer.encoder
    embeddings = encoder.encode(texts)
    return [
        TopicExample(c.mention_id, frozenset(c.topics or ()), emb)
        for c, emb in zip(usable, embeddings, strict=True)
    ]


def run_adapt(
    corrections: list[Correction],
    analyzer: TextAnalyzer,
    versions: VersionStore,
    *,
    by: str,
    min_train: int = 20,
    force: bool = False,
    publish: bool = True,
    stream: Mapping[str, Sequence[str]] | None = None,
    shift_min_texts: int = MIN_TEXTS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> AdaptRun:
    """Train, judge and (if a language improved) publish. CPU-bound: run it off the event loop,
    in the thread that scores, so no batch is scored while heads change."""
    scorer = analyzer.scorer
    # a hub classifier's sentiment is its own: only its topics (tagged from its embedding)
    # learn from the corrections
    heads_scorer = scorer if isinstance(scorer, EncoderHeadScorer) else None
    if not isinstance(scorer, EncoderHeadScorer | SequenceClassifierScorer):
        return AdaptRun(0, skipped=f"{scorer.name} has no heads or topics to adapt")
    run = AdaptRun(len(corrections))
    stream = stream or {}
    if not corrections and not stream:
        run.skipped = "no corrections yet"
        return run
    through = max(c.at for c in corrections).isoformat() if corrections else None
    current = versions.current()
    learned = bool(corrections) and (
        force or current is None or current.corrections_through != through
    )
    examples: list[Example] = []
    result = AdaptResult()
    if not learned:
        run.skipped = (
            f"no corrections since {current.id} (the version in use)"
            if corrections and current is not None
            else "no corrections yet"
        )
    elif heads_scorer is not None:
        examples = examples_from(corrections, analyzer)
        result = run.result = adapt(
            heads_scorer.base_heads,
            heads_scorer.heads,
            examples,
            min_train=min_train,
            input_shifts=heads_scorer.shifts,
        )
    else:
        run.result = result
        run.sentiment_skipped = f"{scorer.base_name}: the classifier's own sentiment (no heads)"
    tagger = analyzer.tagger
    topic_examples = topic_examples_from(corrections, analyzer) if learned else []
    if tagger is not None and topic_examples:
        run.topics = adapt_topics(tagger.base, tagger.overrides, topic_examples)
    topics_adopted = run.topics is not None and run.topics.adopted
    if heads_scorer is not None and stream:
        if not examples and corrections:  # held-out corrections judge the shifts
            examples = examples_from(corrections, analyzer)
        own = {r.lang for r in result.languages if r.adopted}
        run.shifts = estimate_shifts(analyzer, stream, examples, own, min_texts=shift_min_texts)
    shifts_changed = run.shifts is not None and run.shifts.changed
    if (result.heads is None and not topics_adopted and not shifts_changed) or not publish:
        return run
    run.skipped = ""
    if run.topics is not None and run.topics.adopted:
        topics = run.topics.overrides
    else:  # the version in use's adapted topics stay
        topics = tagger.overrides if tagger is not None else None
    overrides = {}
    if heads_scorer is not None:
        heads = result.heads if result.heads is not None else heads_scorer.heads
        overrides = {
            lang: head
            for lang, head in heads.items()
            if heads_scorer.base_heads.get(lang) is not head
        }
    run.version = versions.publish(
        overrides,
        base=scorer.base_id,
        by=by,
        corrections=len(examples) + len(topic_examples)
        if learned
        else (current.corrections if current is not None else 0),
        corrections_through=through,
        evaluation=[r.as_dict() for r in result.languages]
        if learned
        else (current.evaluation if current is not None else []),
        topics=topics,
        topic_evaluation=run.topics.as_dict() if run.topics else None,
        shifts=run.shifts.shifts
        if run.shifts
        else (heads_scorer.version_shifts if heads_scorer else None),
        shift_evaluation=run.shifts.as_list() if run.shifts else None,
        now=clock(),
    )
    return run


async def audit_model_change(
    store: SearchStore,
    *,
    action: str,
    version: str,
    by: str,
    details: dict[str, Any],
    at: datetime | None = None,
) -> None:
    """Record a model version change where the dashboard (and people) look for it."""
    doc = {
        "at": (at or datetime.now(UTC)).isoformat(),
        "actor": by,
        "role": "admin" if action != "model.publish" else "operator",
        "action": action,
        "target": version,
        "reason": details.get("why", ""),
        "forced": False,
        "details": details,
    }
    await store.bulk_index("audit", [Doc(uuid.uuid4().hex, doc)])
    await store.refresh("audit")


def version_details(version: ModelVersion | None, why: str = "") -> dict[str, Any]:
    if version is None:
        return {"version": "base", "evaluation": [], "why": why}
    return {
        "version": version.id,
        "corrections": version.corrections,
        "evaluation": version.evaluation,
        "topic_evaluation": version.topic_evaluation,
        "shift_evaluation": version.shift_evaluation,
        "why": why,
    }
