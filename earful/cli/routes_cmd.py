"""`earful routes ...` and `earful silences ...`: dry runs and controls for alert routing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

routes_app = typer.Typer(help="Alert routing (dry runs).", no_args_is_help=True)
silences_app = typer.Typer(
    help="Silences: mute alerts by label matchers for a while.", no_args_is_help=True
)
console = Console()

if TYPE_CHECKING:
    from alerts.routing.commands import ControlCommand


def _load(file: Path | None) -> Any:
    from alerts.routing.config import DEFAULT_ROUTES_PATH, RoutingConfig
    from earful.configfile import ConfigError
    from earful.settings import Settings

    path = file or Settings().routes_file or DEFAULT_ROUTES_PATH
    try:
        return path, RoutingConfig.load(path)
    except ConfigError as exc:
        console.print(f"[red]invalid[/] {path}")
        for problem in exc.problems:
            console.print(f"  {problem}")
        raise typer.Exit(2) from None


@routes_app.command("check")
def check(file: Annotated[Path | None, typer.Argument()] = None) -> None:
    """Validate a routing file and print its tree."""
    path, config = _load(file)

    def show(route: Any, depth: int) -> None:
        matchers = ", ".join(str(m) for m in route.matchers) or "(everything)"
        extra = " [continue]" if route.continue_ else ""
        console.print(f"{'  ' * depth}- {matchers} -> {route.receiver or '(inherited)'}{extra}")
        for child in route.routes:
            show(child, depth + 1)

    show(config.route, 0)
    console.print(f"{len(config.receivers)} receivers, {len(config.inhibit_rules)} inhibit rules")
    console.print(f"[green]ok[/] {path}")


@routes_app.command("test")
def test(
    labels: Annotated[str, typer.Option(help="Comma-separated labels: kind=sentiment_dip,brand=X")],
    file: Annotated[Path | None, typer.Option(help="Routing file")] = None,
) -> None:
    """Print which receivers get an alert with these labels (as `amtool config routes test`)."""
    from alerts.routing.tree import match_routes

    _, config = _load(file)
    parsed = dict(pair.split("=", 1) for pair in labels.split(",") if "=" in pair)
    matched = match_routes(config.route, parsed)
    table = Table()
    for col in ("receiver", "channels", "group key", "wait / interval / repeat", "escalates to"):
        table.add_column(col)
    for opts in matched:
        receiver = config.receiver(opts.receiver)
        table.add_row(
            opts.receiver,
            ", ".join(receiver.channels()),
            opts.group_key(parsed),
            f"{opts.group_wait} / {opts.group_interval} / {opts.repeat_interval}",
            opts.escalate.to if opts.escalate else "",
        )
    console.print(table)
    typer.echo(",".join(o.receiver for o in matched))


def _publish(command: ControlCommand) -> None:
    from earful.settings import Settings
    from streams.control import publish_sync

    publish_sync(Settings(), command)


@silences_app.command("add")
def add(
    matchers: Annotated[
        list[str], typer.Argument(help='e.g. brand="Skyway Air" kind=~sentiment.*')
    ],
    duration: Annotated[str, typer.Option(help="How long: 30m, 2h, 1d")] = "2h",
    by: Annotated[str, typer.Option(help="Who silences")] = "",
    comment: Annotated[str, typer.Option(help="Why")] = "",
) -> None:
    """Silence alerts matching all the matchers, from now for the duration."""
    from alerts.routing.commands import silence_command
    from earful.types import parse_duration

    try:
        silence = silence_command(
            matchers, parse_duration(duration), datetime.now(UTC), by, comment
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    _publish(silence)
    typer.echo(silence.id)


@silences_app.command("expire")
def expire(silence_id: str) -> None:
    """End a silence now."""
    from alerts.routing.commands import ExpireSilenceCommand

    _publish(ExpireSilenceCommand(id=silence_id))
    typer.echo(f"expired {silence_id}")


@silences_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include expired ones")] = False,
) -> None:
    """List silences (as the worker sees them, rebuilt from the control topic)."""
    from alerts.routing.commands import silences_from
    from earful.settings import Settings
    from streams.control import read_commands

    silences = silences_from(read_commands(Settings()))
    now = datetime.now(UTC)
    table = Table()
    for col in ("id", "matchers", "ends", "by", "comment", "state"):
        table.add_column(col)
    for silence in sorted(silences.values(), key=lambda x: x.ends_at):
        active = silence.active(now)
        if active or all_:
            table.add_row(
                silence.id,
                " ".join(str(m) for m in silence.matchers),
                f"{silence.ends_at:%Y-%m-%d %H:%M}Z",
                silence.created_by,
                silence.comment,
                "active" if active else "expired",
            )
    console.print(table)


def ack(fingerprint: str, by: Annotated[str, typer.Option(help="Who takes it")] = "") -> None:
    """Acknowledge an alert: it will not escalate."""
    from alerts.routing.commands import AckCommand

    _publish(AckCommand(fingerprint=fingerprint, by=by))
    typer.echo(f"acknowledged {fingerprint}")
