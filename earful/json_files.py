"""JSON documents by name in one directory: what a process keeps for the next one (the CLI's and
the worker's calibrated CUSUM thresholds, alerts/calibration.py)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class JsonFiles:
    """A document is read back whole or not at all: it is written to a temporary file and
    renamed over the old one, so a concurrent reader (two workers starting) never sees half of
    it. One that cannot be read counts as absent; a failed write is logged, never raised (what
    is kept here can always be computed again)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def get(self, name: str) -> Any | None:
        try:
            return json.loads((self.directory / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None

    def put(self, name: str, value: Any) -> None:
        path = self.directory / f"{name}.json"
        partial = self.directory / f".{name}.{os.getpid()}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(value))
            partial.replace(path)
        except OSError as e:
            log.warning("%s not kept in %s: %s", name, self.directory, e)
