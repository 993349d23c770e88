"""Topics from a per-project taxonomy, assigned zero-shot by embedding similarity.

A taxonomy is YAML: each topic has a name, a description and example phrases (any language —
the encoder is multilingual). A topic's prototype is the normalised mean of the embeddings of its
description and examples; a mention gets every topic whose cosine similarity is above the
threshold and close enough to its best topic. A model version may replace some topics' prototypes
and thresholds with ones adapted from the team's topic corrections (models/topic_adapt.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from earful.configfile import load_yaml
from models.encoder import Encoder


class TopicSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, pattern=r"^[\w][\w .&/-]*$")
    description: str = Field(min_length=3)
    examples: list[str] = Field(default_factory=list)
    #: Overrides the taxonomy-wide threshold for this topic.
    threshold: float | None = Field(default=None, ge=-1, le=1)


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    #: Minimum cosine similarity between a mention and a topic prototype.
    threshold: float = Field(default=0.82, ge=-1, le=1)
    #: A topic is kept only if within this margin of the mention's best topic.
    margin: float = Field(default=0.03, ge=0, le=2)
    max_topics: int = Field(default=3, ge=1, le=20)
    topics: list[TopicSpec] = Field(min_length=1)

    @field_validator("topics")
    @classmethod
    def _unique_names(cls, topics: list[TopicSpec]) -> list[TopicSpec]:
        seen: set[str] = set()
        for t in topics:
            if t.name in seen:
                raise ValueError(f"topic '{t.name}' is defined twice")
            seen.add(t.name)
        return topics

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        return load_yaml(path, cls)

    def spelled(self, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """(each name as the taxonomy spells it, the names it does not have): a person's topic
        correction may differ in case ("Delays"), never in the topic it names."""
        known = {t.name.casefold(): t.name for t in self.topics}
        found: list[str] = []
        unknown: list[str] = []
        for name in names:
            hit = known.get(name.strip().casefold())
            if hit is None:
                unknown.append(name)
            elif hit not in found:
                found.append(hit)
        return found, unknown

    def unknown_text(self, unknown: Sequence[str]) -> str:
        listed = ", ".join(repr(n) for n in unknown)
        have = ", ".join(t.name for t in self.topics)
        return f"no topic {listed} in the taxonomy {self.name!r} (it has: {have})"


DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("assets") / "taxonomy.yaml"


def load_taxonomy(path: Path | None) -> Taxonomy:
    """The taxonomy the worker tags with (`EARFUL_MODEL__TAXONOMY`, else the shipped one)."""
    return Taxonomy.load(path or DEFAULT_TAXONOMY_PATH)


@dataclass(frozen=True)
class TopicModel:
    """What tags: prototypes and thresholds per topic, and the taxonomy's rules."""

    names: tuple[str, ...]
    prototypes: np.ndarray
    thresholds: np.ndarray
    margin: float
    max_topics: int

    def tag(self, embeddings: np.ndarray) -> list[tuple[str, ...]]:
        if len(embeddings) == 0:
            return []
        sims = embeddings @ self.prototypes.T
        best = sims.max(axis=1, keepdims=True)
        keep = (sims >= self.thresholds) & (sims >= best - self.margin)
        out = []
        for row, mask in zip(sims, keep, strict=True):
            idx = [i for i in np.argsort(-row) if mask[i]][: self.max_topics]
            out.append(tuple(self.names[i] for i in idx))
        return out

    def best(self, embeddings: np.ndarray) -> list[str]:
        """The single most similar topic for each row (for closed-set evaluation)."""
        return [self.names[i] for i in (embeddings @ self.prototypes.T).argmax(axis=1)]

    def with_overrides(self, overrides: TopicOverrides | None) -> TopicModel:
        if overrides is None:
            return self
        protos, thresholds = self.prototypes.copy(), self.thresholds.copy()
        for name, proto, threshold in zip(
            overrides.names, overrides.prototypes, overrides.thresholds, strict=True
        ):
            if name in self.names:  # a topic since removed from the taxonomy is ignored
                i = self.names.index(name)
                protos[i], thresholds[i] = proto, threshold
        return TopicModel(self.names, protos, thresholds, self.margin, self.max_topics)


@dataclass(frozen=True)
class TopicOverrides:
    """The adapted topics of a model version (the others keep their zero-shot prototype)."""

    names: tuple[str, ...]
    prototypes: np.ndarray
    thresholds: np.ndarray

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            np.savez(
                f,
                names=np.array(self.names, dtype=str),
                prototypes=self.prototypes.astype(np.float32),
                thresholds=self.thresholds.astype(np.float32),
            )

    @classmethod
    def load(cls, path: Path) -> TopicOverrides:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                tuple(str(n) for n in data["names"]),
                np.asarray(data["prototypes"], dtype=np.float32),
                np.asarray(data["thresholds"], dtype=np.float32),
            )


class TopicTagger:
    """Assigns taxonomy topics to embeddings produced by the same encoder as the prototypes."""

    def __init__(self, taxonomy: Taxonomy, encoder: Encoder):
        self.taxonomy = taxonomy
        self.names = [t.name for t in taxonomy.topics]
        texts: list[str] = []
        owners: list[int] = []
        for i, topic in enumerate(taxonomy.topics):
            for phrase in [topic.description, *topic.examples]:
                texts.append(phrase)
                owners.append(i)
        vectors = encoder.encode(texts)
        protos = np.zeros((len(self.names), vectors.shape[1]), dtype=np.float32)
        np.add.at(protos, np.array(owners), vectors)
        thresholds = np.array(
            [
                t.threshold if t.threshold is not None else taxonomy.threshold
                for t in taxonomy.topics
            ],
            dtype=np.float32,
        )
        #: The zero-shot tagger, and the one in use (with a model version's adapted topics).
        self.base = TopicModel(
            tuple(self.names),
            protos / np.linalg.norm(protos, axis=1, keepdims=True).clip(min=1e-9),
            thresholds,
            taxonomy.margin,
            taxonomy.max_topics,
        )
        self.model = self.base
        #: The adapted topics in use (None: zero-shot).
        self.overrides: TopicOverrides | None = None

    def use(self, overrides: TopicOverrides | None) -> None:
        """Tag with a model version's adapted topics (None: the zero-shot prototypes)."""
        self.model = self.base.with_overrides(overrides)
        self.overrides = overrides

    def tag(self, embeddings: np.ndarray) -> list[tuple[str, ...]]:
        return self.model.tag(embeddings)

    def best(self, embeddings: np.ndarray) -> list[str]:
        """The single most similar topic for each row (for closed-set evaluation)."""
        return self.model.best(embeddings)


def tag_all(tagger: TopicTagger | None, embeddings: np.ndarray) -> Sequence[tuple[str, ...]]:
    return tagger.tag(embeddings) if tagger else [() for _ in range(len(embeddings))]
