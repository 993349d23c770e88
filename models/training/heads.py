"""Fit the sentiment head on frozen embeddings, reproducibly (`earful models train`).

Logistic regression (multinomial, L2, C chosen on the validation split) gives the weights; a
temperature fitted on the validation split calibrates the probabilities, so the [-1, 1] score
P(pos) - P(neg) means the same across heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.heads import SoftmaxHead, fit_temperature
from models.training.data import LABELS, Example


@dataclass(frozen=True)
class HeadFit:
    head: SoftmaxHead
    C: float
    validation_macro_f1: float


def fit_softmax_head(
    X: np.ndarray,
    y: Sequence[str],
    X_val: np.ndarray,
    y_val: Sequence[str],
    *,
    grid: Sequence[float] = (1.0, 4.0, 16.0),
    weights: np.ndarray | None = None,
    seed: int = 42,
) -> HeadFit:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    best: tuple[float, float, LogisticRegression] | None = None
    for C in grid:
        clf = LogisticRegression(C=C, max_iter=3000, random_state=seed)
        clf.fit(X, list(y), sample_weight=weights)
        f1 = float(f1_score(list(y_val), clf.predict(X_val), average="macro"))
        if best is None or f1 > best[0]:
            best = (f1, C, clf)
    assert best is not None
    f1, C, clf = best
    classes = [str(c) for c in clf.classes_]
    order = [classes.index(label) for label in LABELS]
    weight = clf.coef_[order].astype(np.float32)
    bias = clf.intercept_[order].astype(np.float32)
    raw = SoftmaxHead(weight=weight, bias=bias, labels=LABELS)
    targets = np.array([LABELS.index(label) for label in y_val])
    temperature = fit_temperature(raw.logits(X_val), targets)
    head = SoftmaxHead(weight=weight, bias=bias, labels=LABELS, temperature=temperature)
    return HeadFit(head=head, C=C, validation_macro_f1=f1)


def examples_arrays(examples: Sequence[Example]) -> tuple[list[str], list[str], np.ndarray]:
    return (
        [e.text for e in examples],
        [e.label for e in examples],
        np.array([e.weight for e in examples], dtype=np.float32),
    )


def save_head(fit: HeadFit, path: Path) -> None:
    fit.head.save(path)
