"""Classification metrics for `earful eval sentiment` / `earful eval topics`, and what topic
corrections buy (`earful eval topic-corrections`); pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.adapt import held_out
from models.topic_adapt import TopicExample, adapt_topics
from models.topics import TopicModel


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
    """Accuracy and macro-F1 over the labels present in the truth (scikit-learn's metrics)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    if len(truth) != len(predicted):
        raise ValueError("truth and predictions differ in length")
    classes = list(labels) if labels else sorted(set(truth))
    n = len(truth)
    if not n:
        return Scores(0, 0.0, 0.0, dict.fromkeys(classes, 0.0), {c: {} for c in classes})
    per_class = f1_score(truth, predicted, labels=classes, average=None, zero_division=0.0)
    f1s = {c: float(v) for c, v in zip(classes, per_class, strict=True)}
    macro = float(f1_score(truth, predicted, labels=classes, average="macro", zero_division=0.0))
    # the confusion keeps predictions outside `classes` (a model may say what truth never does)
    seen = classes + sorted(set(predicted) - set(classes))
    matrix = confusion_matrix(truth, predicted, labels=seen)
    confusion = {
        t: {p: int(matrix[i][j]) for j, p in enumerate(seen) if matrix[i][j]}
        for i, t in enumerate(seen)
        if t in classes or t in set(truth)
    }
    accuracy = float(accuracy_score(truth, predicted))
    return Scores(n, accuracy, macro, f1s, confusion)


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


def topic_correction_curve(
    base: TopicModel,
    examples: Sequence[TopicExample],
    per_topic: Sequence[int | None],
) -> list[dict[str, object]]:
    """What topic corrections buy: a labeled set fed in as corrections, `n` per topic from the
    training part (None: all of it), judged on the same held-out fifth `earful models adapt`
    keeps. Per row: held-out micro-F1 of the tag sets and accuracy of the best topic, before
    (zero-shot) and after."""
    train = [e for e in examples if not held_out(e.mention_id)]
    test = [e for e in examples if held_out(e.mention_id)]
    x = np.stack([e.embedding for e in test])
    truth = [e.topics for e in test]

    def best_accuracy(model: TopicModel) -> float:
        return float(np.mean([b in t for b, t in zip(model.best(x), truth, strict=True)]))

    rows: list[dict[str, object]] = []
    for n in per_topic:
        taken: dict[str, int] = {}
        subset = []
        for e in train:
            key = min(e.topics) if e.topics else ""
            if n is None or taken.get(key, 0) < n:
                taken[key] = taken.get(key, 0) + 1
                subset.append(e)
        report = adapt_topics(base, None, [*subset, *test])
        after = base.with_overrides(report.candidate)
        rows.append(
            {
                "per_topic": "all" if n is None else n,
                "train": report.train,
                "held_out": report.held_out,
                "adapted": len(report.topics),
                "micro_f1_before": report.before.micro_f1 if report.before else None,
                "micro_f1_after": report.after.micro_f1 if report.after else None,
                "best_topic_before": best_accuracy(base),
                "best_topic_after": best_accuracy(after),
                "adopted": report.adopted,
            }
        )
    return rows
