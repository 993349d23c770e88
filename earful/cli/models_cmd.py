"""`earful models ...`: build, inspect and train the scoring models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Scoring models.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("build")
def build(
    force: Annotated[bool, typer.Option(help="Rebuild even if present")] = False,
    cache_dir: Annotated[Path | None, typer.Option(help="Where models live")] = None,
) -> None:
    """Build the offline default model from installed packages (no download)."""
    from rich.status import Status

    from earful.settings import Settings
    from models.build import build_default_model

    target = cache_dir or Settings().model.cache_dir
    with Status("building", console=console) as status:

        def progress(msg: str) -> None:
            status.update(msg)
            console.print(f"  {msg}")

        path = build_default_model(target, force=force, progress=progress)
    typer.echo(str(path))
