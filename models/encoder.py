"""Sentence encoders: text -> L2-normalised mean-pooled embedding, batched.

Batches are formed by length (texts sorted by token count, then cut into batches), so a batch of
tweets is padded to its own longest member, not to the longest text of the whole call. Output
order always matches input order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Encoder(Protocol):
    """Anything that turns texts into unit-length embedding rows."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class PairEncoder(Encoder, Protocol):
    """A one-pass encoder: two embeddings of each text from one forward pass."""

    @property
    def one_pass(self) -> bool: ...

    def encode_pair(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...


class GeneralView:
    """A one-pass encoder's general-purpose (last layer) embeddings, as an encoder of its own:
    what topics, the stored embedding and the blend head read. The worker's analyzer takes
    both embeddings from one pass (models/analyzer.py); other callers pay a pass each."""

    def __init__(self, encoder: PairEncoder):
        self.of = encoder
        self.name = f"{encoder.name}#general"
        self.dim = encoder.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.of.encode_pair(texts)[1]


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (longest first, for early OOM)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def quiet_transformers() -> None:
    """No per-load progress bars or advisory warnings in worker logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # may be set only once per process
            torch.set_num_interop_threads(1)


class TransformerEncoder:
    """A transformers encoder (BERT/XLM-R family) with mean pooling, on CPU by default."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        prefix: str = "",
        max_length: int = 128,
        batch_size: int = 64,
        threads: int | None = None,
        device: str = "cpu",
        model: Any = None,
        tokenizer: Any = None,
        sentiment_layer: int | None = None,
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        quiet_transformers()
        set_threads(threads)
        self.name = str(model_dir)
        self.prefix = prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(model_dir))
        self.model = (model or AutoModel.from_pretrained(str(model_dir))).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        #: A one-pass encoder's sentiment layer: encode() returns its embedding, encode_pair()
        #: that and the last layer's.
        self.sentiment_layer = sentiment_layer

    @property
    def one_pass(self) -> bool:
        return self.sentiment_layer is not None

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        enc = self.tokenizer(
            [self.prefix + t for t in texts],
            truncation=True,
            max_length=self.max_length,
            add_special_tokens=True,
        )
        return list(enc["input_ids"])

    def pad(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        width = max(len(x) for x in ids)
        pad_id = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return input_ids, mask

    def forward(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pooled embeddings, [texts, outputs, dim]: the last layer's, or a one-pass
        encoder's sentiment layer's and the last layer's."""
        import torch

        with torch.inference_mode():
            ids_t = torch.from_numpy(input_ids).to(self.device)
            mask_t = torch.from_numpy(mask).to(self.device)
            out = self.model(
                input_ids=ids_t, attention_mask=mask_t, output_hidden_states=self.one_pass
            )
            layers = [out.last_hidden_state]
            if self.sentiment_layer is not None:
                layers.insert(0, out.hidden_states[self.sentiment_layer])
            pooled: np.ndarray = (
                torch.stack([mean_pool(h, mask_t) for h in layers], dim=1).cpu().numpy()
            )
            return pooled

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """The first output's embeddings (a one-pass encoder's: the sentiment layer's)."""
        return self._encode_all(texts)[:, 0]

    def encode_pair(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """A one-pass encoder's sentiment and general-purpose embeddings, from one pass."""
        both = self._encode_all(texts)
        return both[:, 0], both[:, -1]

    def _encode_all(self, texts: Sequence[str]) -> np.ndarray:
        outputs = 2 if self.one_pass else 1
        out = np.zeros((len(texts), outputs, self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenize(texts)
        for batch in length_batches([len(x) for x in ids], self.batch_size):
            input_ids, mask = self.pad([ids[i] for i in batch])
            out[batch] = self.forward(input_ids, mask)
        return out


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of token vectors under the attention mask, L2-normalised (as e5 is trained)."""
    import torch

    weights = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * weights).sum(dim=1)
    pooled = summed / weights.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=-1)
