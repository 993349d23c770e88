"""English's class-balanced mean on the shipped sentiment encoder: what language shifts move
every other language onto (models/language_shift.py).

3,000 English training tweets, embedded and scored as the worker does (int8 by default, the
blend in place), balanced over the predicted classes, exactly as a language's own mean is.

    python -m models.training.shift_reference   # rewrites models/assets/sentiment-reference.npz
"""

from __future__ import annotations

import random

import numpy as np

SIZE = 3000


def main() -> dict[str, object]:
    from earful.settings import ModelSettings
    from models.language_shift import REFERENCE_PATH, reference_mean
    from models.preprocess import normalize
    from models.registry import load_analyzer
    from models.scorers import EncoderHeadScorer
    from models.training.data import english_tweets

    analyzer = load_analyzer(ModelSettings())
    scorer = analyzer.scorer
    if not isinstance(scorer, EncoderHeadScorer) or analyzer.topic_encoder is None:
        raise SystemExit("the reference is computed on the default model")
    rows = english_tweets("train")
    random.Random(1).shuffle(rows)
    texts = [normalize(r.text) for r in rows[:SIZE]]
    langs: list[str | None] = ["en"] * len(texts)
    embeddings = scorer.encoder.encode(texts)
    frozen = analyzer.topic_encoder.encode(texts)

    def probs_of(x: np.ndarray) -> np.ndarray:
        return analyzer.blended(scorer.probs(x, langs), frozen, langs)

    mean = reference_mean(embeddings, probs_of)
    np.savez(
        REFERENCE_PATH,
        mean=mean.astype(np.float32),
        base=np.array(scorer.base_id),
        texts=np.array(len(texts)),
    )
    return {"base": scorer.base_id, "texts": len(texts), "path": str(REFERENCE_PATH)}


if __name__ == "__main__":
    print(main())
