"""Language shifts: move a language's sentiment embeddings onto English before the English head.

The sentiment head was trained on English tweets only. A multilingual encoder places other
languages' texts at an offset from English (a language component, the same for every class), and
an English head reads part of that offset as sentiment: Slovenian reads more neutral, Spanish
less positive. Subtracting the language's mean embedding and adding English's ("language
centering", Libovický et al., 2020, on mBERT) removes most of that offset — with no labels: the
means come from unlabeled text in each language (a sample of the mentions already indexed).

A plain mean also carries the class mix of the text it was taken from: a Swedish stream that is
70% complaints would be pulled towards English's mix, and a real complaint wave would be read
as milder. So both means are *class-balanced*: the mean of each predicted class, averaged with
equal weights, re-estimated a few times with the shift applied (predictions improve as the
offset goes). Measured on the hand-written sets (models/MODEL_CARD.md), a mean from a sample that
is 70% negative or 70% positive moves macro-F1 by a few points where a plain mean moved it by up
to 10.

Pure numpy; `models adapt` estimates the shifts (streams/model_adapt.py), a model version carries
them (models/versions.py) and the scorer applies them to the languages still on the shipped head.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Unlabeled texts a language needs before a shift is estimated for it.
MIN_TEXTS = 300
#: A predicted class needs this many texts to count in a balanced mean.
MIN_PER_CLASS = 20
ITERATIONS = 3
#: The training language: its head needs no shift.
SOURCE_LANGUAGE = "en"

ProbsOf = Callable[[np.ndarray], np.ndarray]


def unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = x / np.maximum(norms, 1e-12)
    return out


def apply_shift(embeddings: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Embeddings moved by `shift`, back on the unit sphere the head was trained on."""
    return unit(embeddings + shift)


def balanced_mean(embeddings: np.ndarray, predicted: np.ndarray) -> np.ndarray | None:
    """The mean of each predicted class, averaged with equal weights (None: fewer than two
    classes with enough texts, so the class mix cannot be taken out)."""
    means = [
        embeddings[predicted == k].mean(axis=0)
        for k in np.unique(predicted)
        if int(np.sum(predicted == k)) >= MIN_PER_CLASS
    ]
    if len(means) < 2:
        return None
    out: np.ndarray = np.mean(means, axis=0)
    return out


def reference_mean(embeddings: np.ndarray, probs_of: ProbsOf) -> np.ndarray:
    """English's balanced mean (what every other language is moved onto)."""
    mean = balanced_mean(embeddings, probs_of(embeddings).argmax(axis=1))
    if mean is None:
        raise ValueError("the reference texts do not cover two sentiment classes")
    return mean


@dataclass(frozen=True)
class ShiftEstimate:
    lang: str
    texts: int
    shift: np.ndarray | None
    #: Share of the texts whose label the shift changes, and the predicted mix before / after.
    changed: float = 0.0
    before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    why: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "lang": self.lang,
            "texts": self.texts,
            "estimated": self.shift is not None,
            "changed": round(self.changed, 4),
            "mix_before": [round(v, 4) for v in self.before],
            "mix_after": [round(v, 4) for v in self.after],
            "why": self.why,
        }


def estimate_shift(
    lang: str,
    embeddings: np.ndarray,
    probs_of: ProbsOf,
    reference: np.ndarray,
    *,
    iterations: int = ITERATIONS,
    min_texts: int = MIN_TEXTS,
) -> ShiftEstimate:
    """The shift that moves this language's balanced mean onto the reference."""
    n = len(embeddings)
    if (refused := too_few(lang, n, min_texts)) is not None:
        return refused
    first = probs_of(embeddings).argmax(axis=1)
    predicted, shift = first, None
    for _ in range(iterations):
        mean = balanced_mean(embeddings, predicted)
        if mean is None:
            return ShiftEstimate(
                lang, n, None, why="the texts fall in fewer than two sentiment classes"
            )
        shift = reference - mean
        predicted = probs_of(apply_shift(embeddings, shift)).argmax(axis=1)
    assert shift is not None
    return ShiftEstimate(
        lang,
        n,
        shift.astype(np.float32),
        changed=float(np.mean(first != predicted)),
        before=_mix(first),
        after=_mix(predicted),
    )


def too_few(lang: str, n: int, min_texts: int = MIN_TEXTS) -> ShiftEstimate | None:
    """The refusal for a language with too little text (checked before anything is encoded)."""
    if n >= min_texts:
        return None
    return ShiftEstimate(lang, n, None, why=f"{n} texts (a shift needs {min_texts})")


def _mix(predicted: np.ndarray) -> tuple[float, float, float]:
    counts = np.bincount(predicted, minlength=3)[:3] / max(len(predicted), 1)
    return (float(counts[0]), float(counts[1]), float(counts[2]))


def paired_shift(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The shift that moves translations (`target`, row i translating `source` row i) onto
    their originals: the mean of the differences, the content being the same on both sides."""
    if len(source) != len(target) or not len(source):
        raise ValueError("a paired shift needs the same number (> 0) of originals and translations")
    out: np.ndarray = (source - target).mean(axis=0).astype(np.float32)
    return out


def save_shifts(path: Path, shifts: Mapping[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{lang: v.astype(np.float32) for lang, v in shifts.items()})  # type: ignore[arg-type]


def load_shifts(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {lang: data[lang] for lang in data.files}


#: English's balanced mean on the shipped sentiment encoder (models/training/shift_reference.py).
REFERENCE_PATH = Path(__file__).resolve().parent / "assets" / "sentiment-reference.npz"


def load_reference(base: str) -> np.ndarray | None:
    """The shipped reference, if it was computed for this base model (else None: no shifts)."""
    if not REFERENCE_PATH.exists():
        return None
    with np.load(REFERENCE_PATH) as data:
        if str(data["base"]) != base:
            return None
        mean: np.ndarray = data["mean"]
        return mean


#: Starter shifts from parallel text (models/training/starter_shifts.py).
STARTER_PATH = Path(__file__).resolve().parent / "assets" / "starter-shifts.npz"


def load_starter_shifts(base: str, path: Path = STARTER_PATH) -> dict[str, np.ndarray]:
    """The shipped starter shifts, if they were estimated on this base model (else none)."""
    if not path.exists():
        return {}
    with np.load(path) as data:
        if str(data["base"]) != base:
            return {}
        return {str(lang): row for lang, row in zip(data["langs"], data["shifts"], strict=True)}
