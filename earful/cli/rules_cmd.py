"""`earful rules ...`: validate detection rules without running anything."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Detection rules.", no_args_is_help=True)
console = Console()


@app.command("check")
def check(
    file: Annotated[Path | None, typer.Argument(help="Rules YAML (default: shipped rules)")] = None,
) -> None:
    """Validate a rules file and list what it will detect (exit 2 on errors)."""
    from alerts.detectors.crisis import CrisisDetector
    from alerts.rules import DEFAULT_RULES_PATH, CrisisRule, load_rules
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
    for r in ruleset.rules:
        if isinstance(r, CrisisRule):
            detector = CrisisDetector(r, int(ruleset.engine.bucket.total_seconds()))
            console.print(
                f"{r.name}: false_alarms_per_month {r.false_alarms_per_month:g} means at most "
                f"about {r.false_alarms_per_month:g} alert a month for a brand whose mentions "
                f"follow their usual pattern; it sets the CUSUM threshold h = "
                f"{detector.h:.1f} over {len(detector.alternatives)} alternatives "
                "(higher h: fewer false alarms, later alerts)"
            )
    console.print("[green]ok[/]")
