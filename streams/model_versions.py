"""The worker's side of model versions (models/versions.py): follow the version in use without
a restart, and adapt on a schedule (`EARFUL_MODEL__ADAPT_INTERVAL_H`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from earful.settings import Settings
from streams.resources import Analyzer, LazyStore
from streams.search import SearchUnavailable

log = logging.getLogger(__name__)


class ModelVersions:
    """The worker's side of model versions: follow CURRENT, and adapt on a schedule."""

    def __init__(
        self,
        settings: Settings,
        analyzer: Analyzer,
        executor: ThreadPoolExecutor,
        store: LazyStore,
        clock: Callable[[], datetime],
    ):
        from models.registry import VersionWatcher
        from models.versions import VersionStore

        self.settings = settings
        self.analyzer = analyzer
        self.executor = executor
        self.store = store
        self.clock = clock
        self.versions = VersionStore(settings.model.versions_dir)
        self.watcher = VersionWatcher(self.versions)

    async def _in_model_thread(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        # the thread that scores: heads never change under a batch being scored
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kw))

    async def follow(self) -> None:
        if self.analyzer.loaded is None:
            return  # not loaded yet: loading applies the version in use
        switched = await self._in_model_thread(self.watcher.check, self.analyzer.loaded)
        if switched is not None:
            from streams import metrics

            metrics.MODEL_VERSION.clear()
            metrics.MODEL_VERSION.labels(version=switched).set(1)

    async def adapt(self) -> None:
        from streams.model_adapt import (
            audit_model_change,
            read_corrections,
            read_language_sample,
            run_adapt,
            version_details,
        )

        try:
            store = await self.store()
            corrections = await read_corrections(store)
            stream = await read_language_sample(store) if self.settings.model.adapt_shifts else None
            run = await self._in_model_thread(
                run_adapt,
                corrections,
                self.analyzer(),
                self.versions,
                by="worker schedule",
                min_train=self.settings.model.adapt_min_corrections,
                stream=stream,
                shift_min_texts=self.settings.model.adapt_shift_min_texts,
                clock=self.clock,
            )
        except (SearchUnavailable, OSError) as exc:
            log.warning("scheduled model adapt not run: %s", exc)
            return
        if run.version is None:
            log.info("scheduled model adapt: no new version (%s)", run.skipped or "none better")
            return
        log.info("scheduled model adapt published %s", run.version.id)
        await audit_model_change(
            store,
            action="model.publish",
            version=run.version.id,
            by="worker schedule",
            details=version_details(run.version, "scheduled adapt"),
            at=self.clock(),
        )
        await self.follow()
