"""Model versions: adapted sentiment heads and topics, published side by side, one of them in use.

    versions_dir/
      v1/version.json  v1/heads/sv.npz ...   each version: the heads it overrides + its evaluation
      v1/topics.npz                          the topics adapted from corrections (if any)
      v1/shifts.npz                          per-language shifts onto English (if any)
      v2/...
      CURRENT                                the version in use ("base": the shipped heads)
      history.jsonl                          every change of CURRENT: who, when, why

A version is written into a temporary directory and renamed into place, and CURRENT is replaced
atomically, so a worker reading concurrently sees the old version or the new one, never half.
Versions remember the base model they were trained on (its name and adapter digest): the heads
read that model's embeddings, so a version of another base is refused rather than misapplied.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.heads import SoftmaxHead
from models.language_shift import load_shifts, save_shifts
from models.topics import TopicOverrides

BASE = "base"
_VERSION = re.compile(r"^v(\d+)$")


class VersionError(ValueError):
    pass


@dataclass(frozen=True)
class ModelVersion:
    id: str
    created_at: str
    #: Which base model the heads belong to (name + adapter digest).
    base: str
    #: Language -> head file, relative to the version's directory.
    heads: dict[str, str]
    created_by: str = ""
    corrections: int = 0
    #: The newest correction the version learned from (a later adapt with nothing newer is a no-op).
    corrections_through: str | None = None
    evaluation: list[dict[str, Any]] = field(default_factory=list)
    #: Adapted topic prototypes and thresholds, relative to the version's directory (or None).
    topics: str | None = None
    #: How the adapted topics did on held-out topic corrections (models/topic_adapt.py).
    topic_evaluation: dict[str, Any] | None = None
    #: Language shifts (models/language_shift.py), relative to the version's directory (or None).
    shifts: str | None = None
    #: Per language: how many unlabeled texts the shift came from, and what it changed.
    shift_evaluation: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "base": self.base,
            "heads": self.heads,
            "created_by": self.created_by,
            "corrections": self.corrections,
            "corrections_through": self.corrections_through,
            "evaluation": self.evaluation,
            "topics": self.topics,
            "topic_evaluation": self.topic_evaluation,
            "shifts": self.shifts,
            "shift_evaluation": self.shift_evaluation,
        }


class VersionStore:
    def __init__(self, root: Path):
        self.root = root

    # -- reading --------------------------------------------------------------------------------
    def stamp(self) -> str:
        """What CURRENT says (cheap: the worker polls it)."""
        try:
            return (self.root / "CURRENT").read_text().strip() or BASE
        except FileNotFoundError:
            return BASE

    def get(self, version_id: str) -> ModelVersion:
        path = self.root / version_id / "version.json"
        if not _VERSION.match(version_id) or not path.exists():
            known = ", ".join(v.id for v in self.all()) or "none yet"
            raise VersionError(f"no model version {version_id!r} in {self.root} (known: {known})")
        data = json.loads(path.read_text())
        return ModelVersion(**data)

    def all(self) -> list[ModelVersion]:
        if not self.root.exists():
            return []
        ids = sorted(
            (int(m.group(1)), p.name)
            for p in self.root.iterdir()
            if (m := _VERSION.match(p.name)) and (p / "version.json").exists()
        )
        return [self.get(name) for _, name in ids]

    def current(self) -> ModelVersion | None:
        stamp = self.stamp()
        return None if stamp == BASE else self.get(stamp)

    @staticmethod
    def _check_base(version: ModelVersion, base: str) -> None:
        if version.base != base:
            raise VersionError(
                f"model version {version.id} was adapted for {version.base}, but the model in "
                f"use is {base}; adapt again (`earful models adapt`) or use `base`"
            )

    def heads(self, version: ModelVersion, base: str) -> dict[str, SoftmaxHead]:
        self._check_base(version, base)
        return {
            lang: SoftmaxHead.load(self.root / version.id / rel)
            for lang, rel in version.heads.items()
        }

    def topics(self, version: ModelVersion, base: str) -> TopicOverrides | None:
        """The version's adapted topics (None: every topic zero-shot)."""
        if version.topics is None:
            return None
        self._check_base(version, base)
        return TopicOverrides.load(self.root / version.id / version.topics)

    def shifts(self, version: ModelVersion, base: str) -> dict[str, np.ndarray]:
        """The version's language shifts (none: every language scored as it is)."""
        if version.shifts is None:
            return {}
        self._check_base(version, base)
        return load_shifts(self.root / version.id / version.shifts)

    def history(self) -> list[dict[str, Any]]:
        path = self.root / "history.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # -- writing --------------------------------------------------------------------------------
    def publish(
        self,
        heads: Mapping[str, SoftmaxHead],
        *,
        base: str,
        by: str,
        corrections: int,
        corrections_through: str | None,
        evaluation: list[dict[str, Any]],
        topics: TopicOverrides | None = None,
        topic_evaluation: dict[str, Any] | None = None,
        shifts: Mapping[str, np.ndarray] | None = None,
        shift_evaluation: list[dict[str, Any]] | None = None,
        now: datetime | None = None,
    ) -> ModelVersion:
        """Write a new version and make it the one in use."""
        self.root.mkdir(parents=True, exist_ok=True)
        numbers = [int(v.id[1:]) for v in self.all()]
        version_id = f"v{max(numbers, default=0) + 1}"
        version = ModelVersion(
            id=version_id,
            created_at=(now or datetime.now(UTC)).isoformat(),
            base=base,
            heads={lang: f"heads/{_file_name(lang)}.npz" for lang in heads},
            created_by=by,
            corrections=corrections,
            corrections_through=corrections_through,
            evaluation=evaluation,
            topics="topics.npz" if topics is not None else None,
            topic_evaluation=topic_evaluation,
            shifts="shifts.npz" if shifts else None,
            shift_evaluation=shift_evaluation or [],
        )
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".publish-") as tmp:
            work = Path(tmp) / version_id
            work.mkdir()  # a version may carry nothing but shifts
            for lang, head in heads.items():
                head.save(work / version.heads[lang])
            if topics is not None:
                topics.save(work / "topics.npz")
            if shifts:
                save_shifts(work / "shifts.npz", shifts)
            (work / "version.json").write_text(json.dumps(version.as_dict(), indent=2))
            work.rename(self.root / version_id)
        self.use(version_id, by=by, why="published by adapt", now=now)
        return version

    def use(self, version_id: str, *, by: str, why: str = "", now: datetime | None = None) -> str:
        if version_id != BASE:
            self.get(version_id)  # refuses an unknown id with the known ones
        self.root.mkdir(parents=True, exist_ok=True)
        previous = self.stamp()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".current-")
        with os.fdopen(fd, "w") as f:
            f.write(version_id + "\n")
        os.replace(tmp, self.root / "CURRENT")
        entry = {
            "at": (now or datetime.now(UTC)).isoformat(),
            "version": version_id,
            "previous": previous,
            "by": by,
            "why": why,
        }
        with (self.root / "history.jsonl").open("a") as f:
            f.write(json.dumps(entry) + "\n")
        return version_id

    def rollback(self, *, by: str, now: datetime | None = None) -> str:
        """Back to the version in use before the current one."""
        history = self.history()
        if not history:
            raise VersionError("nothing to roll back: no version was ever used")
        previous = str(history[-1]["previous"])
        return self.use(previous, by=by, why=f"rollback from {history[-1]['version']}", now=now)

    def remove(self, version_id: str) -> None:
        if self.stamp() == version_id:
            raise VersionError(f"{version_id} is in use; use another version first")
        self.get(version_id)
        shutil.rmtree(self.root / version_id)


def _file_name(lang: str) -> str:
    return "fallback" if lang == "*" else re.sub(r"[^a-z0-9_-]", "_", lang.lower())
