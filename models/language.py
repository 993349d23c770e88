"""Language identification with a bundled model (py3langid: 97 languages, no download).

Short social posts are hard to identify; below `min_confidence` the answer is None ("unknown")
rather than a confident-looking guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_NOISE = re.compile(r"(?:https?://\S+|@\w+|#|\d+)")


class LanguageIdentifier:
    def __init__(self, languages: Sequence[str] | None = None, min_confidence: float = 0.5):
        from py3langid.langid import MODEL_FILE
        from py3langid.langid import LanguageIdentifier as _Identifier

        self._model: Any = _Identifier.from_model_file(MODEL_FILE, norm_probs=True)
        if languages:
            self._model.set_languages(list(languages))
        self.min_confidence = min_confidence

    @property
    def languages(self) -> list[str]:
        """The codes it can answer."""
        return [str(code) for code in self._model.nb_classes]

    def identify(self, text: str) -> tuple[str | None, float]:
        cleaned = _NOISE.sub(" ", text).strip()
        if len(cleaned) < 3:
            return None, 0.0
        lang, prob = self._model.classify(cleaned)
        prob = float(prob)
        return (str(lang) if prob >= self.min_confidence else None), prob

    def identify_many(self, texts: Sequence[str]) -> list[str | None]:
        return [self.identify(t)[0] for t in texts]
