"""ONNX Runtime int8 backend for the encoder: torch's tokenizer and pooling, one text per pass.

`ensure_onnx_int8` exports the encoder to ONNX once (dynamic batch and sequence axes), then
quantizes its weights to int8 (dynamic quantization of MatMul/Gather; one scale per tensor, or
per output channel where the embedding itself is the product), caching the result next to the
model. The model card states how far its outputs are from the fp32 encoder's.

Every text is encoded on a forward pass of its own. Dynamic quantization scales a MatMul's
activations by the largest value in the whole input tensor, so in a padded batch a text's
embedding depends on the texts beside it: measured on the 420 posts of data/eval/social, 20
sentiment labels (4.8%) differed between one batch of 64 and one text at a time, by up to 0.25
in probability. A post's score must not depend on what arrived in the same second (a replay,
a re-score or an adapted head's evaluation would disagree with what the worker indexed), so
batches are not formed; one text per pass also drops the padding. It costs speed: about 10%
for the sentiment encoder alone, about 20% for the whole scorer (models/MODEL_CARD.md).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from earful.settings import Parallelism

log = logging.getLogger(__name__)
FP32_NAME = "encoder-fp32.onnx"
#: Named after the quantization recipe (per tensor; per channel, 7-bit), so a cache built with
#: the other recipe is rebuilt.
INT8_NAME = "encoder-int8.onnx"
INT8_PER_CHANNEL_NAME = "encoder-int8-pc7.onnx"
#: A one-pass encoder's file: per tensor up to the sentiment layer, per channel above it.
INT8_ONE_PASS_NAME = "encoder-int8-one-pass.onnx"
#: The one-pass encoder's first output: the sentiment layer's hidden state.
SENTIMENT_OUTPUT = "sentiment_hidden_state"


def export_onnx(
    encoder_dir: Path, out: Path, *, max_length: int = 128, sentiment_layer: int | None = None
) -> Path:
    """Export the transformers encoder's last hidden state to ONNX (opset 17); a one-pass
    encoder (`sentiment_layer`) also outputs that layer's hidden state, first."""
    import torch
    from transformers import AutoModel

    from models.encoder import quiet_transformers

    quiet_transformers()
    model = AutoModel.from_pretrained(str(encoder_dir)).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            if sentiment_layer is None:
                return self.inner(
                    input_ids=input_ids, attention_mask=attention_mask
                ).last_hidden_state
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            )
            return out.hidden_states[sentiment_layer], out.last_hidden_state

    names = ["last_hidden_state"]
    if sentiment_layer is not None:
        names.insert(0, SENTIMENT_OUTPUT)
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.onnx.export(
        Hidden(model),
        (ids, mask),
        str(tmp),
        input_names=["input_ids", "attention_mask"],
        output_names=names,
        opset_version=17,
        dynamo=False,
        dynamic_axes={
            "input_ids": {0: "batch", 1: "seq"},
            "attention_mask": {0: "batch", 1: "seq"},
            **{name: {0: "batch", 1: "seq"} for name in names},
        },
    )
    tmp.rename(out)
    return out


def quantize_int8(fp32: Path, out: Path, *, per_channel: bool = False) -> Path:
    """int8 weights, one scale per tensor, or per output channel with 7-bit weights.

    Per channel is for an encoder whose embedding is the product (topics by cosine to
    prototypes, the stored embedding): with one scale for a whole matrix the frozen 12-layer
    encoder drifted from fp32 (cosine 0.987 on average on English tweets; 0.996 per channel)
    and zero-shot topic accuracy on Reuters R8 fell from 0.85 to 0.73. 7-bit weights
    (reduce_range) keep the u8 x s8 products of CPUs without VNNI from saturating, so the
    file is as accurate on any x86 CPU; no slower here."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = out.with_suffix(".tmp")
    quantize_dynamic(
        str(fp32),
        str(tmp),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gather"],
        per_channel=per_channel,
        reduce_range=per_channel,
    )
    tmp.rename(out)
    return out


def ensure_onnx_int8(
    encoder_dir: Path, onnx_dir: Path, *, max_length: int = 128, per_channel: bool = False
) -> Path:
    int8 = onnx_dir / (INT8_PER_CHANNEL_NAME if per_channel else INT8_NAME)
    if int8.exists():
        return int8
    log.warning("exporting the encoder to ONNX int8 in %s (one-off, about a minute)", onnx_dir)
    fp32 = onnx_dir / FP32_NAME
    if not fp32.exists():
        export_onnx(encoder_dir, fp32, max_length=max_length)
    quantize_int8(fp32, int8, per_channel=per_channel)
    fp32.unlink()  # only the int8 file is used at run time
    other = INT8_NAME if per_channel else INT8_PER_CHANNEL_NAME
    (onnx_dir / other).unlink(missing_ok=True)  # the other recipe's file is not read again
    return int8


def quantize_one_pass(fp32: Path, out: Path, *, sentiment_layer: int) -> Path:
    """A one-pass encoder's int8 file: the embeddings and the layers up to the sentiment layer
    one scale per tensor (exactly as the sentiment encoder's own file, so a post's sentiment is
    what the two-pass model gave it), the layers above it per output channel, 7-bit (as the
    frozen topic encoder's file: its embedding is the product)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32), load_external_data=False).graph
    upper: list[str] = []
    lower: list[str] = []
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gather"):
            continue
        parts = node.name.split("/encoder/layer.")
        layer = int(parts[1].split("/")[0]) if len(parts) > 1 else -1
        (upper if layer >= sentiment_layer else lower).append(node.name)
    half = out.with_suffix(".half")
    tmp = out.with_suffix(".tmp")
    common: dict[str, Any] = {
        "weight_type": QuantType.QInt8,
        "op_types_to_quantize": ["MatMul", "Gather"],
    }
    quantize_dynamic(
        str(fp32), str(half), nodes_to_quantize=upper, per_channel=True, reduce_range=True, **common
    )
    quantize_dynamic(str(half), str(tmp), nodes_to_quantize=lower, **common)
    half.unlink()
    tmp.rename(out)
    return out


def ensure_onnx_one_pass(
    encoder_dir: Path, onnx_dir: Path, *, sentiment_layer: int, max_length: int = 128
) -> Path:
    """The one-pass encoder's int8 file (two outputs: the sentiment layer's and the last)."""
    int8 = onnx_dir / INT8_ONE_PASS_NAME
    if int8.exists():
        return int8
    log.warning("exporting the encoder to ONNX int8 in %s (one-off, about a minute)", onnx_dir)
    fp32 = onnx_dir / FP32_NAME
    export_onnx(encoder_dir, fp32, max_length=max_length, sentiment_layer=sentiment_layer)
    quantize_one_pass(fp32, int8, sentiment_layer=sentiment_layer)
    fp32.unlink()
    return int8


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.cache
def _lanes(n: int) -> ThreadPoolExecutor:
    """The threads that run sub-batches side by side, one per core, shared by every encoder of
    the process: the sentiment and topic passes queue their batches here together
    (models/analyzer.py), so the cores never run more sessions than there are of them."""
    return ThreadPoolExecutor(n, thread_name_prefix="earful-onnx")


class OnnxEncoder:
    """Drop-in for `TransformerEncoder` backed by an ONNX Runtime session.

    `parallelism="batches"` (the default) runs `threads` texts side by side, each on one
    thread of a single-threaded session. `"operators"` runs one text at a time with every
    operator split over `threads` threads, and each of them waits for the slowest at every
    operator: with anything else on the cores (the worker's event loop, Kafka and the search
    engine on the same machine), one preempted thread holds the others up, and the idle ones
    spin. Measured on 2 cores (models/MODEL_CARD.md has the figures): alone a little faster
    with less CPU per mention; end to end (scoring beside Kafka, OpenSearch and the rest of the
    worker) 0.64-0.77 of the scorer's own rate instead of 0.45-0.46.
    """

    def __init__(
        self,
        onnx_path: Path,
        tokenizer: Any,
        *,
        name: str = "",
        prefix: str = "",
        max_length: int = 128,
        threads: int | None = None,
        parallelism: Parallelism = "batches",
        dim: int = 384,
    ):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.threads = threads or available_cores()
        self.parallelism = parallelism
        # InferenceSession.run may be called from several threads at once
        options.intra_op_num_threads = 1 if parallelism == "batches" else self.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = tokenizer
        self.name = name or str(onnx_path)
        self.prefix = prefix
        self.max_length = max_length
        self.dim = dim
        #: A one-pass encoder's file has two outputs: the sentiment layer's, then the last.
        self.outputs = len(self.session.get_outputs())

    @property
    def one_pass(self) -> bool:
        return self.outputs > 1

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The first output's embeddings (a one-pass encoder's: the sentiment layer's)."""
        return self._encode_all(texts)[:, 0]

    def encode_pair(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """A one-pass encoder's sentiment and general-purpose embeddings, from one pass."""
        both = self._encode_all(texts)
        return both[:, 0], both[:, -1]

    def _encode_all(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.outputs, self.dim), dtype=np.float32)
        if not texts:
            return out
        enc = self.tokenizer(
            [self.prefix + t for t in texts], truncation=True, max_length=self.max_length
        )
        ids: list[list[int]] = list(enc["input_ids"])
        if self.parallelism == "operators" or self.threads == 1:
            for i, row in enumerate(ids):
                out[i] = self._embed(row)
            return out
        # longest first, so that the lanes end together
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        for i, pooled in zip(
            order, _lanes(self.threads).map(lambda i: self._embed(ids[i]), order), strict=True
        ):
            out[i] = pooled
        return out

    def _embed(self, ids: list[int]) -> np.ndarray:
        """The normalised mean-pooled embedding of one text per output (no padding, no
        neighbours)."""
        input_ids = np.asarray([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        hidden = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
        pooled = [h[0].mean(axis=0) for h in hidden]
        return np.stack([p / max(float(np.linalg.norm(p)), 1e-12) for p in pooled])
