"""What the worker opens once, on first use: the search store (inside the running event loop)
and the text analyzer (in whatever thread first asks for it)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from earful.settings import Settings
from models.analyzer import TextAnalyzer
from streams.search import SearchStore, open_store


class LazyStore:
    """Opens the search store once, on first use, inside the running event loop."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._store: SearchStore | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> SearchStore:
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    store = await open_store(self.settings.search)
                    await store.ensure_setup()
                    self._store = store
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None


class Analyzer:
    """Loads the model once (in whatever thread first asks) and hands out the same instance."""

    def __init__(self, factory: Callable[[], TextAnalyzer]):
        self._factory = factory
        self._analyzer: TextAnalyzer | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> TextAnalyzer | None:
        return self._analyzer

    def __call__(self) -> TextAnalyzer:
        if self._analyzer is None:
            with self._lock:
                if self._analyzer is None:
                    self._analyzer = self._factory()
        return self._analyzer
