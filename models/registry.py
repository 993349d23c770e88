"""Build a `TextAnalyzer` from settings: the offline default, a local directory, or a hub id."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from earful.settings import ModelSettings
from models.analyzer import Blend, TextAnalyzer
from models.build import (
    DEFAULT_MODEL,
    ModelCorrupt,
    ModelNotBuilt,
    Progress,
    build_default_model,
    default_model_dir,
    read_manifest,
)
from models.encoder import Encoder, GeneralView, TransformerEncoder
from models.heads import SoftmaxHead
from models.language import LanguageIdentifier
from models.language_shift import load_starter_shifts
from models.onnx_backend import OnnxEncoder, ensure_onnx_int8, ensure_onnx_one_pass
from models.scorers import EncoderHeadScorer, Scorer, SequenceClassifierScorer
from models.topics import TopicTagger, load_taxonomy
from models.versions import BASE, VersionError, VersionStore

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    pass


def load_topic_encoder(
    model_dir: Path, cfg: ModelSettings, scorer: Scorer | None = None
) -> Encoder | None:
    """What topics and the stored embedding read, if the model has it and settings want it:
    a one-pass encoder's last layer (the scorer's own pass), or a second, frozen encoder."""
    manifest = read_manifest(model_dir)
    if cfg.topic_encoder != "frozen":
        return None
    encoder = getattr(scorer, "encoder", None)
    if manifest.get("sentiment_layer") and getattr(encoder, "one_pass", False):
        return GeneralView(encoder)  # type: ignore[arg-type]
    if not manifest.get("topic_encoder"):
        return None
    return _encoder(
        model_dir / manifest["topic_encoder"],
        cfg,
        manifest.get("prefix", ""),
        model_dir,
        onnx_dir="onnx-topics",
        per_channel=True,  # its embedding is the product: topics, the stored embedding
    )


def load_earful_model(model_dir: Path, cfg: ModelSettings) -> EncoderHeadScorer:
    """A directory written by `earful models build` (encoder + heads + manifest)."""
    manifest = read_manifest(model_dir)
    encoder_dir = model_dir / manifest["encoder"]
    try:
        encoder = _encoder(
            encoder_dir,
            cfg,
            manifest.get("prefix", ""),
            model_dir,
            sentiment_layer=manifest.get("sentiment_layer"),
        )
        heads = {lang: SoftmaxHead.load(model_dir / rel) for lang, rel in manifest["heads"].items()}
    except (OSError, ValueError, KeyError) as exc:
        raise ModelCorrupt(
            f"cannot load the model in {model_dir}: {exc}; rebuild it with "
            "`earful models build --force`"
        ) from exc
    return EncoderHeadScorer(
        encoder, heads, name=f"{manifest['name']}/{cfg.backend}", base_id=base_id(manifest)
    )


def base_id(manifest: dict[str, Any]) -> str:
    """What an adapted version's heads depend on: the encoder's name and fine-tuning."""
    return f"{manifest['name']} {manifest.get('sources', {}).get('adapter', '')}".strip()


def resolve_device(cfg: ModelSettings, cuda_available: bool | None = None) -> str:
    """`cpu` or `cuda`, from the setting and what torch sees."""
    if cfg.device == "cpu":
        return "cpu"
    if cuda_available is None:
        import torch

        cuda_available = bool(torch.cuda.is_available())
    if cfg.device == "cuda" and not cuda_available:
        raise ModelLoadError("EARFUL_MODEL__DEVICE=cuda, but torch sees no CUDA GPU")
    return "cuda" if cuda_available else "cpu"


def _encoder(
    encoder_dir: Path,
    cfg: ModelSettings,
    prefix: str,
    model_dir: Path,
    onnx_dir: str = "onnx",
    per_channel: bool = False,
    sentiment_layer: int | None = None,
) -> TransformerEncoder | OnnxEncoder:
    tokenizer = fast_tokenizer(encoder_dir)
    device = resolve_device(cfg)
    if device == "cuda":
        if cfg.backend == "onnx-int8":
            log.info("a CUDA GPU is present: torch on the GPU instead of the CPU-only int8 model")
        return TransformerEncoder(
            encoder_dir,
            prefix=prefix,
            max_length=cfg.max_length,
            batch_size=cfg.gpu_batch_size,
            device="cuda",
            tokenizer=tokenizer,
            sentiment_layer=sentiment_layer,
        )
    if cfg.backend == "onnx-int8":
        onnx_path = (
            ensure_onnx_int8(
                encoder_dir,
                model_dir / onnx_dir,
                max_length=cfg.max_length,
                per_channel=per_channel,
            )
            if sentiment_layer is None
            else ensure_onnx_one_pass(
                encoder_dir,
                model_dir / onnx_dir,
                sentiment_layer=sentiment_layer,
                max_length=cfg.max_length,
            )
        )
        return OnnxEncoder(
            onnx_path,
            tokenizer,
            name=f"{model_dir.name}/onnx-int8",
            prefix=prefix,
            max_length=cfg.max_length,
            threads=cfg.threads,
            parallelism=cfg.parallelism,
        )
    return TransformerEncoder(
        encoder_dir,
        prefix=prefix,
        max_length=cfg.max_length,
        batch_size=cfg.batch_size,
        threads=cfg.threads,
        tokenizer=tokenizer,
        sentiment_layer=sentiment_layer,
    )


def fast_tokenizer(encoder_dir: Path) -> Any:
    """Load tokenizer.json straight into a fast tokenizer (AutoTokenizer takes ~4x longer)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_file=str(encoder_dir / "tokenizer.json"),
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
    )


def load_scorer(cfg: ModelSettings, progress: Progress | None = None) -> Scorer:
    if cfg.name in ("default", DEFAULT_MODEL):
        model_dir = default_model_dir(cfg.cache_dir)
        try:
            read_manifest(model_dir)
        except (ModelNotBuilt, ModelCorrupt) as exc:
            if not cfg.build_if_missing:
                raise ModelLoadError(str(exc)) from exc
            log.warning("%s; building it now (one-off, about a minute)", exc)
            build_default_model(cfg.cache_dir, force=True, progress=progress)
        return load_earful_model(model_dir, cfg)

    path = Path(cfg.name).expanduser()
    if path.exists():
        if (path / "earful-model.json").exists():
            return load_earful_model(path, cfg)
        if not (path / "config.json").exists():
            raise ModelLoadError(
                f"{path} is not a model directory (no config.json or earful-model.json)"
            )
    try:
        device = resolve_device(cfg)
        return SequenceClassifierScorer(
            str(path) if path.exists() else cfg.name,
            max_length=cfg.max_length,
            batch_size=cfg.gpu_batch_size if device == "cuda" else cfg.batch_size,
            threads=cfg.threads,
            device=device,
        )
    except OSError as exc:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = (
            (
                " (HF_HUB_OFFLINE=1 is set: download it on a connected machine and point "
                "EARFUL_MODEL__NAME at the saved directory)"
            )
            if offline
            else ""
        )
        raise ModelLoadError(f"cannot load model '{cfg.name}': {exc}{hint}") from exc


def load_analyzer(cfg: ModelSettings, progress: Progress | None = None) -> TextAnalyzer:
    scorer = load_scorer(cfg, progress)
    if cfg.starter_shifts and isinstance(scorer, EncoderHeadScorer):
        scorer.use_starter_shifts(load_starter_shifts(scorer.base_id))
    topic_encoder = None
    if cfg.name in ("default", DEFAULT_MODEL):
        topic_encoder = load_topic_encoder(default_model_dir(cfg.cache_dir), cfg, scorer)
    elif (Path(cfg.name) / "earful-model.json").exists():
        topic_encoder = load_topic_encoder(Path(cfg.name), cfg, scorer)
    taxonomy = load_taxonomy(cfg.taxonomy)
    analyzer = TextAnalyzer(
        scorer,
        language=LanguageIdentifier(),
        tagger=TopicTagger(taxonomy, topic_encoder or scorer.encoder),
        cache_size=cfg.cache_size,
        topic_encoder=topic_encoder,
        blend=load_blend() if cfg.blend and topic_encoder is not None else None,
    )
    VersionWatcher(VersionStore(cfg.versions_dir)).check(analyzer)
    return analyzer


def load_blend() -> Blend | None:
    """The shipped blend head (models/training/blend.py), or None where it is not there."""
    from models.training.blend import HEAD_PATH, META_PATH

    if not (HEAD_PATH.exists() and META_PATH.exists()):
        return None
    weight = float(json.loads(META_PATH.read_text())["weight"])
    return Blend(SoftmaxHead.load(HEAD_PATH), weight)


class VersionWatcher:
    """Keeps an analyzer on the model version CURRENT names (checked on a timer by the worker)."""

    def __init__(self, store: VersionStore):
        self.store = store
        self._refused: str | None = None

    def check(self, analyzer: TextAnalyzer) -> str | None:
        """Switch to the version in use if it changed; returns the version switched to."""
        scorer = analyzer.scorer
        if not isinstance(scorer, EncoderHeadScorer | SequenceClassifierScorer):
            return None
        stamp = self.store.stamp()
        if stamp in (scorer.version, self._refused):
            return None
        try:
            version = None if stamp == BASE else self.store.get(stamp)
            heads = {} if version is None else self.store.heads(version, scorer.base_id)
            topics = None if version is None else self.store.topics(version, scorer.base_id)
            shifts = {} if version is None else self.store.shifts(version, scorer.base_id)
        except (VersionError, OSError, ValueError) as exc:
            log.error("keeping model version %s: %s", scorer.version, exc)
            self._refused = stamp
            return None
        analyzer.use_heads(heads, stamp, topics, shifts)
        self._refused = None
        log.info("scoring with model version %s (%s)", stamp, scorer.name)
        return stamp
