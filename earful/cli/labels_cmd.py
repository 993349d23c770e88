"""`earful labels ...`: corrections made outside the dashboard (a spreadsheet, another tool)."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(help="People's corrections of sentiment and topics.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("import")
def import_labels(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a header")],
    by: Annotated[str | None, typer.Option(help="Who labeled them (default: you)")] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Check the file and the ids; change nothing")
    ] = False,
) -> None:
    """Import corrections from a CSV file (columns: id, sentiment, topics, text, lang, comment).

    Each correction is published to the `labels` topic and applied to the index at once; rows
    whose mention is not in the index need `text` (and should give `lang`)."""
    from earful.configfile import ConfigError
    from earful.labels_file import read_label_file

    try:
        rows = read_label_file(file)
    except ConfigError as exc:
        for problem in exc.problems:
            console.print(f"[red]{problem}[/]", soft_wrap=True)
        raise SystemExit(2) from None
    labeled, outside = asyncio.run(_import(rows, by or getpass.getuser(), str(file), dry_run))
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {labeled + outside} corrections from {file} "
        f"({labeled} of indexed mentions, {outside} of posts labeled outside Earful)"
    )


async def _import(rows: list[Any], by: str, file: str, dry_run: bool) -> tuple[int, int]:
    from earful.records import Correction
    from earful.settings import Settings
    from models.topics import load_taxonomy
    from streams.labels import apply_corrections, correction_for, find_mentions, publish_sync
    from streams.search import open_store

    settings = Settings()
    taxonomy = load_taxonomy(settings.model.taxonomy)
    store = await open_store(settings.search)
    try:
        await store.ensure_setup()
        now = datetime.now(UTC)
        corrections: list[Correction] = []
        missing: list[str] = []
        outside = 0
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            found = await find_mentions(store, [r.mention_id for r in chunk])
            for r in chunk:
                mention = found.get(r.mention_id)
                if mention is None and not r.text:
                    missing.append(
                        f"{file}:{r.line}: id: {r.mention_id} is not in the index "
                        "and the row has no text"
                    )
                    continue
                topics = r.topics
                if topics is not None:
                    topics, unknown = taxonomy.spelled(topics)
                    if unknown:
                        missing.append(f"{file}:{r.line}: topics: {taxonomy.unknown_text(unknown)}")
                        continue
                if mention is None:
                    outside += 1
                    mention = {"id": r.mention_id, "text": r.text, "lang": r.lang}
                corrections.append(
                    correction_for(
                        mention,
                        by=by,
                        at=now,
                        sentiment=r.sentiment,
                        topics=topics,
                        source="cli",
                        comment=r.comment,
                    )
                )
        if missing:
            for line in missing:
                console.print(f"[red]{line}[/]", soft_wrap=True)
            raise SystemExit(2)
        if not dry_run:
            await apply_corrections(store, corrections)
            await asyncio.to_thread(publish_sync, settings, corrections)
        return len(corrections) - outside, outside
    finally:
        await store.close()
