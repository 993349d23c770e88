"""`earful projects ...`: check and list listening projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Listening projects: brand, competitors, teams.", no_args_is_help=True)
console = Console()


@app.command("check")
def check(file: Annotated[Path | None, typer.Argument(help="projects YAML")] = None) -> None:
    """Validate a projects file (the configured or shipped one by default) and show it."""
    from earful.configfile import ConfigError
    from earful.projects import DEFAULT_PROJECTS_PATH, Projects
    from earful.settings import Settings

    path = file or Settings().projects_file or DEFAULT_PROJECTS_PATH
    try:
        projects = Projects.load(path)
    except ConfigError as exc:
        console.print(f"[red]invalid[/] {path}\n{exc}")
        raise typer.Exit(1) from None
    table = Table(title=str(path))
    for col in ("name", "brand", "competitors (share of voice)", "languages", "teams"):
        table.add_column(col)
    for p in projects.projects:
        table.add_row(
            p.name,
            p.brand,
            ", ".join(p.competitors) or "—",
            ", ".join(p.languages) or "any",
            ", ".join(p.teams),
        )
    console.print(table)
    typer.echo("ok")
