"""`earful reports ...`: check, list, render (dry run), send and run team reports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from alerts.notification import Delivery
    from reports.config import ReportDefinition
    from reports.periods import Period
    from streams.report_runner import ReportService

app = typer.Typer(help="Team reports on a cadence (Slack, email, PDF).", no_args_is_help=True)
console = Console()


def _reports(file: Path | None):  # type: ignore[no-untyped-def]
    from earful.configfile import ConfigError
    from earful.settings import Settings
    from reports.config import DEFAULT_REPORTS_PATH, Reports

    path = file or Settings().reports.file or DEFAULT_REPORTS_PATH
    try:
        return path, Reports.load(path)
    except ConfigError as exc:
        console.print(f"[red]invalid[/] {path}\n{exc}")
        raise typer.Exit(1) from None


@app.command("check")
def check(file: Annotated[Path | None, typer.Argument(help="reports YAML")] = None) -> None:
    """Validate report definitions, and that their projects and receivers exist."""
    from alerts.routing.config import DEFAULT_ROUTES_PATH, RoutingConfig
    from earful.projects import load_projects
    from earful.settings import Settings

    path, reports = _reports(file)
    s = Settings()
    projects = load_projects(s.projects_file)
    routing = RoutingConfig.load(s.routes_file or DEFAULT_ROUTES_PATH)
    problems = []
    for r in reports.reports:
        try:
            projects.get(r.project)
        except KeyError:
            problems.append(f"{path}: {r.name}: unknown project {r.project!r}")
        for name in r.deliver.receivers:
            try:
                routing.receiver(name)
            except KeyError:
                problems.append(f"{path}: {r.name}: unknown receiver {name!r} (routes file)")
    if problems:
        console.print("[red]invalid[/]\n" + "\n".join(problems))
        raise typer.Exit(1)
    list_(file)
    typer.echo("ok")


@app.command("list")
def list_(file: Annotated[Path | None, typer.Argument(help="reports YAML")] = None) -> None:
    """The schedule: each report's cadence, next run and the period it will cover."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    from reports.periods import last_complete

    _, reports = _reports(file)
    table = Table()
    for col in ("name", "title", "language", "cadence", "next run", "covers", "sections", "to"):
        table.add_column(col)
    now = datetime.now(UTC)
    for r in reports.reports:
        if r.cadence:
            nxt = croniter(r.cadence.cron, now.astimezone(ZoneInfo(r.cadence.timezone))).get_next(
                datetime
            )
            when = f"{nxt:%Y-%m-%d %H:%M} {r.cadence.timezone}"
            covers = last_complete(r.cadence.period, nxt, r.cadence.timezone).label
            cadence = f"{r.cadence.cron} ({r.cadence.period})"
        else:
            when, covers, cadence = "on demand", "", ""
        table.add_row(
            r.name,
            r.title,
            r.language,
            cadence,
            when,
            covers,
            ", ".join(r.sections),
            ", ".join(r.deliver.receivers),
        )
    console.print(table)


def _period(
    definition: ReportDefinition, period: str | None, start: str | None, end: str | None
) -> Period:
    from reports.periods import custom, parse_period

    tz = definition.cadence.timezone if definition.cadence else "UTC"
    try:
        if start and end:
            return custom(datetime.fromisoformat(start), datetime.fromisoformat(end))
        if period:
            return parse_period(period, tz)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.BadParameter("give --period 2026-W47|2026-11|2026-Q4, or --from and --to")


async def _service() -> ReportService:
    from alerts.care.policies import load_policies
    from alerts.routing.config import DEFAULT_ROUTES_PATH, RoutingConfig
    from earful.projects import load_projects
    from earful.settings import Settings
    from reports.config import load_reports
    from streams.report_runner import ReportService
    from streams.search import open_store

    s = Settings()
    store = await open_store(s.search)
    await store.ensure_setup()
    return ReportService(
        s,
        store,
        load_reports(s.reports.file),
        load_projects(s.projects_file),
        load_policies(s.care_policies_file),
        RoutingConfig.load(s.routes_file or DEFAULT_ROUTES_PATH),
    )


@app.command("render")
def render_(
    name: str,
    period: Annotated[str | None, typer.Option(help="2026-W47, 2026-11 or 2026-Q4")] = None,
    start: Annotated[str | None, typer.Option("--from", help="ISO time with zone")] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO time with zone")] = None,
    out: Annotated[Path | None, typer.Option(help="directory for the files")] = None,
) -> None:
    """Dry run: write the Slack JSON, HTML, text, PDF and PNG charts to a directory."""
    import json

    from streams.report_runner import archive

    async def go() -> Path:
        service = await _service()
        try:
            definition = service.reports.get(name)
            rendered = await service.build(definition, _period(definition, period, start, end))
            root = out or service.settings.reports.archive_dir
            return (
                archive(rendered, root, service.slack_for(rendered))
                if out is None
                else _write(rendered, out, service)
            )
        finally:
            await service.store.close()

    def _write(rendered, directory: Path, service) -> Path:  # type: ignore[no-untyped-def]
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "slack.json").write_text(
            json.dumps(service.slack_for(rendered), ensure_ascii=False, indent=2), encoding="utf-8"
        )
        (directory / "report.html").write_text(rendered.html, encoding="utf-8")
        (directory / "report.txt").write_text(rendered.text, encoding="utf-8")
        (directory / "report.pdf").write_bytes(rendered.pdf)
        for chart, data in rendered.pngs.items():
            (directory / f"{chart}.png").write_bytes(data)
        return directory

    try:
        where = asyncio.run(go())
    except KeyError:
        raise typer.BadParameter(f"no report {name!r}", param_hint="NAME") from None
    typer.echo(f"rendered {name} to {where}")
    for f in sorted(where.iterdir()):
        typer.echo(f"  {f.name}  {f.stat().st_size:,} bytes")


@app.command("send")
def send(
    name: str,
    period: Annotated[str | None, typer.Option(help="2026-W47, 2026-11 or 2026-Q4")] = None,
    start: Annotated[str | None, typer.Option("--from")] = None,
    end: Annotated[str | None, typer.Option("--to")] = None,
) -> None:
    """Send one report now to its receivers (and archive it)."""

    async def go() -> list[tuple[str, Delivery]]:
        service = await _service()
        try:
            definition = service.reports.get(name)
            p = _period(definition, period, start, end)
            _, where, outcomes = await service.produce(definition, p, send=True)
            await service.record(definition, p, outcomes, where)
            return outcomes
        finally:
            await service.store.close()

    outcomes = asyncio.run(go())
    for channel, delivery in outcomes:
        typer.echo(f"{channel}: {delivery.outcome.value} {delivery.detail}")
    if any(d.outcome.value != "sent" for _, d in outcomes):
        raise typer.Exit(1)


@app.command("run")
def run(
    interval: Annotated[float, typer.Option(help="seconds between schedule checks")] = 30.0,
) -> None:
    """Run the scheduler: send each report when its cron fires (once per period, also with
    several schedulers running)."""
    from streams.report_runner import run_scheduler

    async def go() -> None:
        service = await _service()
        try:
            await run_scheduler(service, interval_s=interval)
        finally:
            await service.store.close()

    asyncio.run(go())
