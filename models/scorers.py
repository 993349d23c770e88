"""Scorers: a batch of texts in, sentiment probabilities and embeddings out.

Two implementations share the `Scorer` interface:
- `EncoderHeadScorer` — the offline default: a multilingual sentence encoder plus small softmax
  heads (one per language where trained, with a shared fallback);
- `SequenceClassifierScorer` — any Hugging Face sequence-classification model (a hub id for users
  with a network, or a local directory), e.g. cardiffnlp/twitter-xlm-roberta-base-sentiment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from earful.records import SENTIMENT_LABELS
from models.encoder import Encoder, length_batches, mean_pool, quiet_transformers, set_threads
from models.heads import SoftmaxHead
from models.language_shift import apply_shift


@dataclass(frozen=True)
class ScoreBatch:
    #: (n, 3) probabilities in SENTIMENT_LABELS order: negative, neutral, positive.
    probs: np.ndarray
    #: (n, dim) unit-length embeddings, for topics and emerging-topic discovery.
    embeddings: np.ndarray


class Scorer(Protocol):
    name: str

    @property
    def encoder(self) -> Encoder: ...

    def score(self, texts: Sequence[str], langs: Sequence[str | None]) -> ScoreBatch: ...


def reorder_probs(probs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Columns in the head's label order -> columns in SENTIMENT_LABELS order."""
    index = {label: i for i, label in enumerate(labels)}
    return probs[:, [index[label] for label in SENTIMENT_LABELS]]


class EncoderHeadScorer:
    def __init__(
        self,
        encoder: Encoder,
        heads: Mapping[str, SoftmaxHead],
        name: str = "",
        base_id: str = "",
    ):
        if "*" not in heads:
            raise ValueError("a fallback head '*' is required")
        self.encoder = encoder
        #: The shipped heads; an adapted version overrides some of them (models/versions.py).
        self.base_heads = dict(heads)
        self.heads = dict(heads)
        self.base_name = self.name = name or encoder.name
        #: Which embeddings the heads read (an adapted version must match it).
        self.base_id = base_id or self.base_name
        self.version = "base"
        #: Language -> shift onto English (models/language_shift.py), for the languages still
        #: on the shipped fallback head: the starter shifts (shipped, from parallel text),
        #: overridden per language by the version's own (estimated from the stream).
        self.starter_shifts: dict[str, np.ndarray] = {}
        self.version_shifts: dict[str, np.ndarray] = {}
        self.shifts: dict[str, np.ndarray] = {}

    def use_heads(
        self,
        heads: Mapping[str, SoftmaxHead],
        version: str,
        shifts: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Score with the shipped heads overridden by `heads`, and the language shifts of the
        version. The worker switches versions in the thread that scores (streams/app.py), so
        no batch sees the heads of one version with the shifts of another."""
        self.heads, self.version_shifts = {**self.base_heads, **heads}, dict(shifts or {})
        self.shifts = {**self.starter_shifts, **self.version_shifts}
        self.version = version
        self.name = self.base_name if version == "base" else f"{self.base_name}@{version}"

    def use_starter_shifts(self, shifts: Mapping[str, np.ndarray]) -> None:
        """The shipped starter shifts (models/training/starter_shifts.py) under the version's."""
        self.starter_shifts = dict(shifts)
        self.shifts = {**self.starter_shifts, **self.version_shifts}

    def score(self, texts: Sequence[str], langs: Sequence[str | None]) -> ScoreBatch:
        embeddings = self.encoder.encode(texts)
        return ScoreBatch(probs=self.probs(embeddings, langs), embeddings=embeddings)

    def probs(self, embeddings: np.ndarray, langs: Sequence[str | None]) -> np.ndarray:
        """The heads in use on embeddings already computed, each row by its language's head."""
        probs = np.zeros((len(embeddings), 3), dtype=np.float32)
        groups: dict[tuple[str, str | None], list[int]] = {}
        heads, shifts = self.heads, self.shifts
        for i, lang in enumerate(langs):
            key = lang if lang in heads else "*"
            # a language with its own head was fitted on unshifted embeddings
            shifted = lang if key == "*" and lang in shifts else None
            groups.setdefault((key, shifted), []).append(i)
        for (key, shifted), rows in groups.items():
            head = heads[key]
            x = embeddings[rows]
            if shifted is not None:
                x = apply_shift(x, shifts[shifted])
            probs[rows] = reorder_probs(head.predict_proba(x), head.labels)
        return probs


_STAR = re.compile(r"^([1-5])\s*stars?$")


def label_mapping(id2label: Mapping[int, str]) -> np.ndarray:
    """A (model classes x 3) matrix folding a model's labels onto negative/neutral/positive.

    Understands negative/neutral/positive names (any case, `LABEL_0..2` for 3-class models in
    that conventional order), binary negative/positive models, and 1-5 star models.
    """
    n = len(id2label)
    fold = np.zeros((n, 3), dtype=np.float32)
    for i in range(n):
        name = id2label[i].strip().lower()
        star = _STAR.match(name)
        if name.startswith("neg"):
            fold[i, 0] = 1
        elif name.startswith("neu"):
            fold[i, 1] = 1
        elif name.startswith("pos"):
            fold[i, 2] = 1
        elif star:
            stars = int(star.group(1))
            fold[i, 0 if stars <= 2 else (1 if stars == 3 else 2)] = 1
        elif name == f"label_{i}" and n == 3:
            fold[i, i] = 1
        elif name == f"label_{i}" and n == 2:
            fold[i, 0 if i == 0 else 2] = 1
        else:
            raise ValueError(
                f"cannot map the model's label '{id2label[i]}' onto negative/neutral/positive"
            )
    return fold


class SequenceClassifierScorer:
    """Sentiment from a fine-tuned classifier; embeddings are its mean-pooled last layer."""

    def __init__(
        self,
        model_id_or_path: str | Path,
        *,
        max_length: int = 128,
        batch_size: int = 64,
        threads: int | None = None,
        prefix: str = "",
        device: str = "cpu",
    ):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        set_threads(threads)
        source = str(model_id_or_path)
        self.base_name = self.name = self.base_id = source
        #: A version adapts the topics only: the classifier's sentiment is its own.
        self.version = "base"
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.device = torch.device(device)
        self.model = (
            AutoModelForSequenceClassification.from_pretrained(source).to(self.device).eval()
        )
        self.fold = label_mapping({int(k): v for k, v in self.model.config.id2label.items()})
        self.max_length = max_length
        self.batch_size = batch_size
        self.prefix = prefix
        self.encoder = _ClassifierEncoder(self)

    def _run(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        dim = int(self.model.config.hidden_size)
        probs = np.zeros((len(texts), 3), dtype=np.float32)
        emb = np.zeros((len(texts), dim), dtype=np.float32)
        if not texts:
            return probs, emb
        enc = self.tokenizer(
            [self.prefix + t for t in texts], truncation=True, max_length=self.max_length
        )
        ids: list[list[int]] = list(enc["input_ids"])
        pad_id = self.tokenizer.pad_token_id or 0
        for batch in length_batches([len(x) for x in ids], self.batch_size):
            width = max(len(ids[i]) for i in batch)
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            input_ids, mask = input_ids.to(self.device), mask.to(self.device)
            with torch.inference_mode():
                out: Any = self.model(
                    input_ids=input_ids, attention_mask=mask, output_hidden_states=True
                )
            p = torch.softmax(out.logits, dim=-1).float().cpu().numpy()
            probs[batch] = p @ self.fold
            emb[batch] = mean_pool(out.hidden_states[-1], mask).float().cpu().numpy()
        return probs, emb

    def use_heads(
        self,
        heads: Mapping[str, SoftmaxHead],
        version: str,
        shifts: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Switch to a model version; it may carry adapted topics, never sentiment heads (nor
        language shifts: the classifier's sentiment is its own)."""
        if heads or shifts:
            raise TypeError(f"{self.base_name} has no sentiment heads to adapt")
        self.version = version
        self.name = self.base_name if version == "base" else f"{self.base_name}@{version}"

    def score(self, texts: Sequence[str], langs: Sequence[str | None]) -> ScoreBatch:
        probs, emb = self._run(texts)
        return ScoreBatch(probs=probs, embeddings=emb)


class _ClassifierEncoder:
    """Lets the topic tagger embed taxonomy phrases with the classifier's own representation."""

    def __init__(self, scorer: SequenceClassifierScorer):
        self._scorer = scorer
        self.name = scorer.name
        self.dim = int(scorer.model.config.hidden_size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._scorer._run(texts)[1]
