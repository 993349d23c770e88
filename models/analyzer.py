"""Text -> everything the pipeline needs, from one batched encoder pass per distinct text.

`TextAnalyzer.analyze` normalises each text, identifies its language when the source did not say,
looks the (text, language) pair up in a bounded cache, sends only the unseen distinct texts to the
scorer in one batch, and assigns taxonomy topics from the same embeddings. It is synchronous and
CPU-bound: the stream processor calls it from a worker thread, never on the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from earful.records import SENTIMENT_LABELS, Sentiment
from models.cache import LRUCache
from models.encoder import Encoder, GeneralView
from models.heads import SoftmaxHead
from models.language import LanguageIdentifier
from models.preprocess import normalize
from models.scorers import ScoreBatch, Scorer, reorder_probs
from models.topics import TopicOverrides, TopicTagger


@dataclass(frozen=True)
class Analysis:
    sentiment: Sentiment
    lang: str | None
    lang_detected: bool
    topics: tuple[str, ...]
    embedding: np.ndarray
    #: The model (and adapted version) that scored it.
    model: str = ""


def sentiment_from_probs(probs: np.ndarray) -> Sentiment:
    neg, neu, pos = (float(x) for x in probs)
    label = SENTIMENT_LABELS[int(np.argmax(probs))]
    score = max(-1.0, min(1.0, pos - neg))
    return Sentiment(
        label=label, score=round(score, 4), probs=(round(neg, 4), round(neu, 4), round(pos, 4))
    )


@dataclass(frozen=True)
class _Cached:
    probs: np.ndarray
    embedding: np.ndarray
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Blend:
    """A sentiment head over the frozen topic encoder's embedding, mixed into the sentiment
    head's probabilities: p = weight x p_sentiment + (1 - weight) x p_frozen."""

    head: SoftmaxHead
    weight: float

    def mix(self, probs: np.ndarray, frozen_embeddings: np.ndarray) -> np.ndarray:
        frozen = reorder_probs(self.head.predict_proba(frozen_embeddings), self.head.labels)
        out: np.ndarray = self.weight * probs + (1.0 - self.weight) * frozen
        return out


def _side_by_side(encoder: Any) -> bool:
    return getattr(encoder, "parallelism", None) == "batches"


@functools.cache
def _second_pass() -> ThreadPoolExecutor:
    """The thread that runs the topic encoder's pass while the caller runs the sentiment
    pass (the thread itself only tokenizes and waits; the cores run the batches)."""
    return ThreadPoolExecutor(1, thread_name_prefix="earful-topics")


class TextAnalyzer:
    def __init__(
        self,
        scorer: Scorer,
        *,
        language: LanguageIdentifier | None = None,
        tagger: TopicTagger | None = None,
        cache_size: int = 50_000,
        topic_encoder: Encoder | None = None,
        blend: Blend | None = None,
    ):
        self.scorer = scorer
        #: The general-purpose embeddings for topics and stored embeddings (optional): a
        #: second encoder, or the last layer of a one-pass encoder (GeneralView).
        self.topic_encoder = topic_encoder
        #: Mixed into the sentiment probabilities where general-purpose embeddings are made.
        self.blend = blend if topic_encoder is not None else None
        self.language = language
        self.tagger = tagger
        self.cache: LRUCache[_Cached] = LRUCache(cache_size)

    @property
    def name(self) -> str:
        """The model (and adapted version) that scores: recorded on every mention."""
        return self.scorer.name

    def use_heads(
        self,
        heads: Mapping[str, SoftmaxHead],
        version: str,
        topics: TopicOverrides | None = None,
        shifts: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Switch to a model version: the sentiment heads of an encoder-heads scorer, its
        language shifts, and the topics adapted from corrections (None: zero-shot); cached
        scores are forgotten."""
        use = getattr(self.scorer, "use_heads", None)
        if use is None:
            raise TypeError(f"{self.scorer.name} has no sentiment heads to adapt")
        use(heads, version, shifts)
        if self.tagger is not None:
            self.tagger.use(topics)
        self.cache = LRUCache(self.cache.capacity)

    def use_shifts(self, shifts: Mapping[str, np.ndarray]) -> None:
        """Replace the language shifts in use (`eval sentiment --shift-from`); the heads stay."""
        use = getattr(self.scorer, "use_heads", None)
        heads = getattr(self.scorer, "heads", None)
        base = getattr(self.scorer, "base_heads", None)
        if use is None or heads is None or base is None:
            raise TypeError(f"{self.scorer.name} has no sentiment heads to shift")
        own = {k: h for k, h in heads.items() if base.get(k) is not h}
        use(own, getattr(self.scorer, "version", "base"), shifts)
        self.cache = LRUCache(self.cache.capacity)

    def blended(
        self, probs: np.ndarray, frozen: np.ndarray, langs: Sequence[str | None]
    ) -> np.ndarray:
        """The blend applied to the rows whose language is scored by a shipped head (a head
        adapted from corrections was judged on its own, so it is used on its own)."""
        if self.blend is None:
            return probs
        rows = [i for i, lang in enumerate(langs) if not adapted(self.scorer, lang)]
        if not rows:
            return probs
        out = probs.copy()
        out[rows] = self.blend.mix(probs[rows], frozen[rows])
        return out

    def _both_passes(
        self, texts: list[str], langs: list[str | None]
    ) -> tuple[ScoreBatch, np.ndarray]:
        """The sentiment pass and the topic encoder's embeddings. Where both encoders run their
        batches side by side on single-threaded sessions, the two passes are handed to the
        cores together: each pass alone ends waiting for its slowest batch, while the other
        pass's batches fill that wait."""
        topic_encoder = self.topic_encoder
        if topic_encoder is None:
            batch = self.scorer.score(texts, langs)
            return batch, batch.embeddings
        probs = getattr(self.scorer, "probs", None)
        if (
            isinstance(topic_encoder, GeneralView)
            and probs is not None
            and (topic_encoder.of is getattr(self.scorer, "encoder", None))
        ):
            # one pass: the sentiment layer's embeddings for the heads, the last layer's for
            # topics, the stored embedding and the blend
            sentiment, general = topic_encoder.of.encode_pair(texts)
            return ScoreBatch(probs=probs(sentiment, langs), embeddings=sentiment), general
        if _side_by_side(getattr(self.scorer, "encoder", None)) and _side_by_side(topic_encoder):
            topics = _second_pass().submit(topic_encoder.encode, texts)
            batch = self.scorer.score(texts, langs)
            return batch, topics.result()
        return self.scorer.score(texts, langs), topic_encoder.encode(texts)

    def analyze(
        self,
        texts: Sequence[str],
        langs: Sequence[str | None] | None = None,
    ) -> list[Analysis]:
        model = self.name  # before scoring: a version switch runs between batches, never inside
        langs = list(langs) if langs is not None else [None] * len(texts)
        if len(langs) != len(texts):
            raise ValueError("texts and langs differ in length")
        normalized = [normalize(t) for t in texts]
        resolved: list[str | None] = []
        detected: list[bool] = []
        for text, lang in zip(normalized, langs, strict=True):
            if lang:
                resolved.append(lang.lower().split("-")[0])
                detected.append(False)
            elif self.language is not None:
                resolved.append(self.language.identify(text)[0])
                detected.append(True)
            else:
                resolved.append(None)
                detected.append(False)

        keys = list(zip(normalized, resolved, strict=True))
        found: dict[tuple[str, str | None], _Cached] = {}
        missing: dict[tuple[str, str | None], None] = {}
        for key in keys:
            if key in found or key in missing:
                continue
            hit = self.cache.get(key)
            if hit is None:
                missing[key] = None
            else:
                found[key] = hit
        if missing:
            todo = list(missing)
            texts = [t for t, _ in todo]
            batch, embeddings = self._both_passes(texts, [lang for _, lang in todo])
            topics = self.tagger.tag(embeddings) if self.tagger else [()] * len(todo)
            probs = self.blended(batch.probs, embeddings, [lang for _, lang in todo])
            for i, key in enumerate(todo):
                entry = _Cached(probs[i], embeddings[i], tuple(topics[i]))
                found[key] = entry
                self.cache.put(key, entry)

        out = []
        for key, was_detected in zip(keys, detected, strict=True):
            entry = found[key]
            out.append(
                Analysis(
                    sentiment=sentiment_from_probs(entry.probs),
                    lang=key[1],
                    lang_detected=was_detected,
                    topics=entry.topics,
                    embedding=entry.embedding,
                    model=model,
                )
            )
        return out


def adapted(scorer: Scorer, lang: str | None) -> bool:
    """Whether this language is scored by a head adapted from corrections."""
    heads = getattr(scorer, "heads", None)
    base = getattr(scorer, "base_heads", None)
    if heads is None or base is None:
        return False
    key = lang if lang in heads else "*"
    return heads[key] is not base.get(key)
