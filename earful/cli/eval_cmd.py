"""`earful eval scenarios|detect`: detection against labeled scenario sets (the scoring model's
evaluations are in earful/cli/eval_models.py). Each command ends with one JSON line of figures."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

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
    from tooling.scenario_sets import scenario_stream
    from tooling.scenarios import EXPECTED_ALERTS, TextPools

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
