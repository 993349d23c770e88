"""`earful rollups rebuild`: recompute the trend rollups of a time range from the mentions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

app = typer.Typer(help="Trend rollups (the index month-long charts read).", no_args_is_help=True)


@app.command("rebuild")
def rebuild_(
    start: Annotated[datetime, typer.Option("--from", help="ISO time (UTC if no zone)")],
    end: Annotated[datetime, typer.Option("--to", help="ISO time (UTC if no zone)")],
) -> None:
    """Recompute every 5-minute and hourly rollup in [from, to) from the mention index (after
    a restore, an upgrade, or mentions indexed by other means)."""
    from earful.settings import Settings
    from streams.rollups import rebuild
    from streams.search import open_store

    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)

    async def go() -> int:
        store = await open_store(Settings().search)
        try:
            await store.ensure_setup()
            await store.refresh("mentions")
            return await rebuild(store, start, end)
        finally:
            await store.close()

    typer.echo(f"{asyncio.run(go()):,} rollup documents written")
