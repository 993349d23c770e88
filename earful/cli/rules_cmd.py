"""`earful rules ...`: validate detection rules, and backtest them over history."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

app = typer.Typer(help="Detection rules.", no_args_is_help=True)
console = Console()


@app.command("check")
def check(
    file: Annotated[Path | None, typer.Argument(help="Rules YAML (default: shipped rules)")] = None,
) -> None:
    """Validate a rules file and list what it will detect (exit 2 on errors)."""
    from alerts.engine import make_detector
    from alerts.rules import DEFAULT_RULES_PATH, load_rules
    from earful.configfile import ConfigError

    try:
        ruleset = load_rules(file)
    except ConfigError as exc:
        console.print(f"[red]invalid[/] {file or DEFAULT_RULES_PATH}")
        for problem in exc.problems:
            console.print(f"  {problem}")
        raise typer.Exit(2) from None
    table = Table(
        title=f"{file or DEFAULT_RULES_PATH}: {len(ruleset.rules)} rules, "
        f"bucket {ruleset.engine.bucket}"
    )
    for col in ("name", "kind", "brands", "window", "min volume", "warm-up", "labels"):
        table.add_column(col)
    for r in ruleset.rules:
        table.add_row(
            r.name + ("" if r.enabled else " (disabled)"),
            r.kind,
            ",".join(r.brands),
            str(r.window),
            str(r.min_volume),
            str(r.warmup),
            ",".join(f"{k}={v}" for k, v in r.labels.items()),
        )
    console.print(table)
    bucket_s = int(ruleset.engine.bucket.total_seconds())
    for r in ruleset.rules:
        explain = getattr(make_detector(r, bucket_s), "explain", None)
        text = explain() if explain is not None else ""
        if text:  # the sequential detectors say what their target means
            console.print(f"{r.name}: {text}")
    console.print("[green]ok[/]")


@app.command("backtest")
def backtest(
    file: Annotated[Path | None, typer.Argument(help="Rules YAML (default: shipped rules)")] = None,
    start: Annotated[
        datetime | None,
        typer.Option("--from", help="First day (UTC), e.g. 2026-10-01; default: all history"),
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--to", help="Last day (UTC, included); default: now")
    ] = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", help="Only these brands (repeatable)")
    ] = None,
    input: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Scored mentions as JSON lines instead of the search index",
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write every alert notice here")] = None,
) -> None:
    """Replay history through a rule set and print what would have fired, when, with its
    evidence, and how many alerts each rule raises a week."""
    from datetime import UTC, timedelta

    from alerts.backtest import Backtest
    from alerts.replay import batch_collection
    from alerts.rules import load_rules
    from earful.cli.eval_cmd import emit

    rules = load_rules(file)
    since = start.replace(tzinfo=UTC) if start else datetime(1970, 1, 1, tzinfo=UTC)
    until = (end.replace(tzinfo=UTC) + timedelta(days=1)) if end else datetime.now(UTC)
    run = Backtest(rules, since, until, frozenset(brand or ()))
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress, batch_collection():
        if input is not None:
            _from_file(run, input, progress)
        else:
            asyncio.run(_from_index(run, progress))
        run.finish()
    seconds = time.perf_counter() - started
    firing = run.firing
    table = Table(title=f"what would have fired: {len(firing)} alerts")
    for col in ("fired (UTC)", "rule", "brand", "severity", "what"):
        table.add_column(col)
    for a in firing:
        table.add_row(f"{a.fired_at:%Y-%m-%d %H:%M}", a.rule, a.brand, a.severity, a.summary[:120])
    console.print(table)
    weeks = run.per_week()
    all_weeks = sorted({w for counts in weeks.values() for w in counts})
    table = Table(title="alerts per week and rule")
    table.add_column("rule")
    for w in all_weeks:
        table.add_column(w, justify="right")
    for rule, counts in sorted(weeks.items()):
        table.add_row(rule, *(str(counts.get(w, 0)) for w in all_weeks))
    console.print(table)
    if output:
        with output.open("w") as f:
            for a in run.alerts:
                f.write(a.model_dump_json() + "\n")
    console.print(
        f"{run.mentions} mentions in {seconds:.1f}s "
        f"({run.mentions / seconds if seconds else 0:.0f}/s), {run.skipped} unreadable"
    )
    emit(
        {
            "mentions": run.mentions,
            "alerts": len(firing),
            "per_week": {r: dict(c) for r, c in weeks.items()},
            "seconds": round(seconds, 2),
        }
    )


def _from_file(run: Any, path: Path, progress: Progress) -> None:
    import orjson

    task = progress.add_task("replaying", total=path.stat().st_size)
    batch: list[dict[str, Any]] = []
    with path.open("rb") as f:
        for line in f:
            progress.advance(task, len(line))
            if not line.strip():
                continue
            try:
                batch.append(orjson.loads(line))
            except ValueError:  # orjson.JSONDecodeError is one
                run.skipped += 1
            if len(batch) >= 5000:
                run.feed(batch)
                batch = []
    run.feed(batch)


async def _from_index(run: Any, progress: Progress) -> None:
    from alerts.replay import OBSERVATION_FIELDS
    from earful.settings import Settings
    from streams.search import open_store

    query: dict[str, Any] = {
        "bool": {
            "filter": [
                {"range": {"created_at": {"gte": run.start.isoformat(), "lt": run.end.isoformat()}}}
            ]
        }
    }
    if run.brands:
        query["bool"]["filter"].append({"terms": {"brands": sorted(run.brands)}})
    store = await open_store(Settings().search)
    try:
        total = await store.count("mentions", query)
        task = progress.add_task("reading the mention index", total=total)
        pages = aiter(store.scan("mentions", query, fields=OBSERVATION_FIELDS))
        ahead = asyncio.ensure_future(anext(pages, None))
        try:
            while (page := await ahead) is not None:
                # the next page is asked for while this one is replayed (in a thread, so the
                # request and the search engine's work go on meanwhile): reading and
                # detection overlap instead of taking turns
                ahead = asyncio.ensure_future(anext(pages, None))
                await asyncio.to_thread(run.feed, page)
                progress.advance(task, len(page))
        finally:
            ahead.cancel()  # where the replay failed: the read stops, its point in time closes
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead
    finally:
        await store.close()
