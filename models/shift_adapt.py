"""Language shifts estimated from a team's own stream, judged where corrections allow.

`models adapt` hands this a sample of recent mentions per language (unlabeled). For each
language still scored by the shipped head (not English, the head's own language, and not one
with a head adapted from corrections), the shift is estimated as models/language_shift.py
describes, with the predictions the worker makes (the sentiment head on the shifted embedding,
blended with the frozen encoder's head as the analyzer blends). Where the language has held-out
corrections, the shift is adopted only if it is not worse on them; where it has none, it is
adopted unjudged, and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from models.adapt import Example, held_out, score_probs
from models.analyzer import TextAnalyzer
from models.heads import SoftmaxHead
from models.language_shift import (
    MIN_TEXTS,
    SOURCE_LANGUAGE,
    ShiftEstimate,
    apply_shift,
    estimate_shift,
    load_reference,
    too_few,
)
from models.preprocess import normalize
from models.scorers import EncoderHeadScorer, reorder_probs

#: Held-out corrections a language needs before a shift is judged on them.
MIN_JUDGED = 10
#: Shifts closer than this (L2) to the one in use are the same shift: no new version for them.
SAME_SHIFT = 0.01


@dataclass
class ShiftReport:
    estimates: list[ShiftEstimate] = field(default_factory=list)
    #: Per language: held-out macro-F1 before / after, or why it was not judged; adopted or not.
    judged: dict[str, dict[str, object]] = field(default_factory=dict)
    #: The shifts of the new version (kept ones included).
    shifts: dict[str, np.ndarray] = field(default_factory=dict)
    changed: bool = False
    #: Languages with a shipped starter shift (models/training/starter_shifts.py): where the
    #: version has no shift of its own, the starter is what moves them.
    starters: frozenset[str] = frozenset()

    def as_list(self) -> list[dict[str, object]]:
        """Per language: its estimate, how it was judged, and whether the new version shifts it
        (`in_use`; a shift kept from the version in use where no new one was adopted)."""
        rows: list[dict[str, object]] = []
        for e in self.estimates:
            row = {**e.as_dict(), **self.judged.get(e.lang, {}), "in_use": e.lang in self.shifts}
            row["kept"] = bool(row["in_use"]) and not (e.shift is not None and row.get("adopted"))
            row["starter"] = e.lang in self.starters and not row["in_use"]
            rows.append(row)
        estimated = {e.lang for e in self.estimates}
        rows += [
            {"lang": lang, "estimated": False, "in_use": True, "kept": True, "why": "not sampled"}
            for lang in sorted(set(self.shifts) - estimated)
        ]
        return rows


def estimate_shifts(
    analyzer: TextAnalyzer,
    texts_by_lang: Mapping[str, Sequence[str]],
    examples: Sequence[Example] = (),
    own_heads: set[str] | None = None,
    *,
    min_texts: int = MIN_TEXTS,
) -> ShiftReport:
    """Shifts for every language of the sample that the shipped head still scores."""
    report = ShiftReport()
    scorer = analyzer.scorer
    if not isinstance(scorer, EncoderHeadScorer):
        return report
    report.starters = frozenset(scorer.starter_shifts)
    reference = load_reference(scorer.base_id)
    if reference is None:
        return report
    own = set(own_heads or ()) | {k for k in scorer.heads if k != "*"}
    # a stream shift is judged against the shift in use (a starter one where the version has
    # none), and the new version carries only stream shifts: the starters stay the shipped ones
    in_use, versioned = dict(scorer.shifts), dict(scorer.version_shifts)
    head = scorer.heads["*"]
    for lang, raw in sorted(texts_by_lang.items()):
        if lang == SOURCE_LANGUAGE or lang in own or lang in ("*", "unknown"):
            continue
        if (refused := too_few(lang, len(raw), min_texts)) is not None:
            report.estimates.append(refused)  # nothing encoded for it
            continue
        texts = [normalize(t) for t in raw]
        embeddings = scorer.encoder.encode(texts)
        frozen = _frozen(analyzer, texts)

        def probs_of(x: np.ndarray, frozen: np.ndarray | None = frozen) -> np.ndarray:
            return _blend(analyzer, reorder_probs(head.predict_proba(x), head.labels), frozen)

        estimate = estimate_shift(lang, embeddings, probs_of, reference, min_texts=min_texts)
        report.estimates.append(estimate)
        if estimate.shift is None:
            continue
        verdict = _judge(analyzer, head, lang, estimate.shift, in_use.get(lang), examples)
        report.judged[lang] = verdict
        if verdict["adopted"]:
            report.shifts[lang] = estimate.shift
    kept = {
        lang: v for lang, v in versioned.items() if lang not in report.shifts and lang not in own
    }
    new = {**kept, **report.shifts}
    report.changed = set(new) != set(versioned) or any(
        float(np.linalg.norm(new[lang] - versioned[lang])) > SAME_SHIFT for lang in new
    )
    report.shifts = new
    return report


def _frozen(analyzer: TextAnalyzer, texts: list[str]) -> np.ndarray | None:
    if analyzer.blend is None or analyzer.topic_encoder is None or not texts:
        return None
    return analyzer.topic_encoder.encode(texts)


def _blend(analyzer: TextAnalyzer, probs: np.ndarray, frozen: np.ndarray | None) -> np.ndarray:
    if analyzer.blend is None or frozen is None:
        return probs
    return analyzer.blend.mix(probs, frozen)


def _judge(
    analyzer: TextAnalyzer,
    head: SoftmaxHead,
    lang: str,
    shift: np.ndarray,
    current: np.ndarray | None,
    examples: Sequence[Example],
) -> dict[str, object]:
    """Held-out corrections in the language: the shift in use (or none) against the new one."""
    test = [e for e in examples if e.lang == lang and held_out(e.mention_id)]
    if len(test) < MIN_JUDGED:
        return {"adopted": True, "judged": f"not judged: {len(test)} held-out corrections"}
    x = np.stack([e.embedding for e in test])
    y = np.array([e.label for e in test])

    def probs(x: np.ndarray) -> np.ndarray:
        return reorder_probs(head.predict_proba(x), head.labels)

    shipped = [e.shipped for e in test]
    if all(s is not None for s in shipped) and analyzer.blend is not None:
        # the blend's frozen part is the same before and after: recover it from the "before"
        weight = analyzer.blend.weight
        before_x = x if current is None else apply_shift(x, current)
        frozen_part = np.stack([s for s in shipped if s is not None]) - weight * probs(before_x)
        before = np.stack([s for s in shipped if s is not None])
        after = weight * probs(apply_shift(x, shift)) + frozen_part
    else:
        before = probs(x if current is None else apply_shift(x, current))
        after = probs(apply_shift(x, shift))
    b, a = score_probs(before, y), score_probs(after, y)
    return {
        "adopted": a.macro_f1 >= b.macro_f1,
        "judged": f"{len(test)} held-out corrections",
        "before": b.as_dict(),
        "after": a.as_dict(),
    }
