"""Classification metrics for `earful eval sentiment` / `earful eval topics` (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scores:
    n: int
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    confusion: dict[str, dict[str, int]]  # truth -> predicted -> count

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_class_f1": {k: round(v, 4) for k, v in self.per_class_f1.items()},
        }


def score(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None
) -> Scores:
    """Accuracy and macro-F1 over the labels present in the truth (as scikit-learn computes)."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    classes = list(labels) if labels else sorted(set(truth))
    confusion: dict[str, dict[str, int]] = {t: defaultdict(int) for t in classes}
    for t, p in zip(truth, predicted, strict=True):
        confusion.setdefault(t, defaultdict(int))[p] += 1
    f1s = {}
    for c in classes:
        tp = confusion.get(c, {}).get(c, 0)
        fp = sum(row.get(c, 0) for t, row in confusion.items() if t != c)
        fn = sum(v for p, v in confusion.get(c, {}).items() if p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1s[c] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n = len(truth)
    accuracy = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p) / n if n else 0.0
    macro = sum(f1s.values()) / len(f1s) if f1s else 0.0
    return Scores(n, accuracy, macro, f1s, {t: dict(r) for t, r in confusion.items()})


def by_language(
    truth: Sequence[str],
    predicted: Sequence[str],
    langs: Sequence[str | None],
    labels: Sequence[str] | None = None,
) -> dict[str, Scores]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, lang in enumerate(langs):
        groups[lang or "unknown"].append(i)
    return {
        lang: score([truth[i] for i in rows], [predicted[i] for i in rows], labels)
        for lang, rows in sorted(groups.items())
    }
