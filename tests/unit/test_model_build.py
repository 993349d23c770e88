"""The default model's manifest (models/build.py), without building a model."""

import json

import pytest

from models.build import (
    ADAPTER,
    ASSETS,
    DEFAULT_MODEL,
    FORMAT_VERSION,
    MANIFEST,
    TOPIC_ADAPTER,
    ModelCorrupt,
    _sha256,
    read_manifest,
)


def manifest(tmp_path, **sources):
    (tmp_path / MANIFEST).write_text(
        json.dumps({"format": FORMAT_VERSION, "name": DEFAULT_MODEL, "sources": sources})
    )
    return tmp_path


def test_a_default_model_built_from_other_adapters_is_rebuilt(tmp_path):
    """A checkout with a retrained adapter must not keep scoring with the cached build of the
    old one: the manifest names the adapters' digests and a mismatch asks for a rebuild."""
    current = {
        "adapter": f"{ADAPTER} sha256:{_sha256(ASSETS / ADAPTER)[:16]}",
        "topic_layers": f"{TOPIC_ADAPTER} sha256:{_sha256(ASSETS / TOPIC_ADAPTER)[:16]}",
    }
    assert read_manifest(manifest(tmp_path, **current))["name"] == DEFAULT_MODEL
    stale = {**current, "topic_layers": f"{TOPIC_ADAPTER} sha256:0123456789abcdef"}
    with pytest.raises(ModelCorrupt, match=f"built from another {TOPIC_ADAPTER}.*--force"):
        read_manifest(manifest(tmp_path, **stale))
