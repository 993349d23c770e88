"""Classification heads over frozen embeddings: a softmax layer with temperature calibration.

Heads are tiny (3 x 384 floats), live in `.npz` files next to a JSON description, and run in
numpy, so the worker needs no training library at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.language_shift import apply_shift


@dataclass(frozen=True)
class SoftmaxHead:
    weight: np.ndarray  # (classes, dim)
    bias: np.ndarray  # (classes,)
    labels: tuple[str, ...]
    #: Divides the logits; fitted on held-out data so probabilities are calibrated.
    temperature: float = 1.0
    #: Subtracted from embeddings before the layer (the training mean, for centering).
    center: np.ndarray | None = None
    #: Added to (unit) embeddings first, back on the unit sphere: the language shift a head
    #: adapted from corrections was fitted on (models/language_shift.py), so it reads the
    #: encoder's raw output as the scorer hands it over.
    shift: np.ndarray | None = None

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        x = embeddings if self.shift is None else apply_shift(embeddings, self.shift)
        x = x if self.center is None else x - self.center
        out: np.ndarray = x @ self.weight.T + self.bias
        return out

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        return softmax(self.logits(embeddings) / self.temperature)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"weight": self.weight.astype(np.float32), "bias": self.bias.astype(np.float32)}
        if self.center is not None:
            arrays["center"] = self.center.astype(np.float32)
        if self.shift is not None:
            arrays["shift"] = self.shift.astype(np.float32)
        meta = json.dumps({"labels": list(self.labels), "temperature": self.temperature})
        arrays["meta"] = np.frombuffer(meta.encode(), dtype=np.uint8)
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> SoftmaxHead:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            return cls(
                weight=data["weight"],
                bias=data["bias"],
                labels=tuple(meta["labels"]),
                temperature=float(meta["temperature"]),
                center=data.get("center"),
                shift=data.get("shift"),  # heads saved before shifts were kept: none
            )


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising negative log-likelihood on held-out data (Guo et al., 2017)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(4.0), 121)):
        p = softmax(logits / t)[np.arange(len(labels)), labels]
        nll = float(-np.log(np.clip(p, 1e-12, 1)).mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t
