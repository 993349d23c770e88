"""`earful retention show|apply`: the index lifecycle Earful runs (hourly in the worker)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

app = typer.Typer(
    help="Index lifecycle: how long mentions, rollups and alerts are kept.", no_args_is_help=True
)


def _run(dry_run: bool) -> None:
    from earful.settings import Settings
    from streams import retention
    from streams.search import open_store

    s = Settings()

    async def go() -> list[retention.Action]:
        store = await open_store(s.search)
        try:
            return await retention.apply(
                store, s.search.retention, datetime.now(UTC), dry_run=dry_run
            )
        finally:
            await store.close()

    keep = s.search.retention
    typer.echo(
        f"keeping mentions {keep.mentions_days} d, rollups {keep.rollups_days} d, care metrics "
        f"{keep.care_metrics_days} d, alerts {keep.alerts_days} d, audit {keep.audit_days} d"
    )
    actions = asyncio.run(go())
    verb = "would" if dry_run else "did"
    for a in actions:
        typer.echo(f"{verb} {a.what} {a.target}: {a.detail}")
    if not actions:
        typer.echo("nothing is past its retention")


@app.command("show")
def show() -> None:
    """What would be dropped or pruned now (a dry run)."""
    _run(dry_run=True)


@app.command("apply")
def apply_(dry_run: Annotated[bool, typer.Option(help="only show")] = False) -> None:
    """Drop months and prune alerts past their retention now."""
    _run(dry_run=dry_run)
