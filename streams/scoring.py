"""Agent step `score`: raw mentions -> validated -> scored off the event loop -> scored topic."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from earful.codec import InvalidMessage, decode_record, encode
from earful.records import Mention, ScoredMention
from models.analyzer import Analysis, TextAnalyzer
from streams import metrics
from streams.deadletters import DeadLetters
from streams.messages import Msg, Outbox

log = logging.getLogger(__name__)


class ScoreStep:
    def __init__(
        self,
        analyzer: Callable[[], TextAnalyzer],
        outbox: Outbox,
        deadletters: DeadLetters,
        executor: Executor,
        *,
        store_embeddings: bool = False,
    ):
        self._get_analyzer = analyzer
        self.outbox = outbox
        self.deadletters = deadletters
        self.executor = executor
        self.store_embeddings = store_embeddings

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def warm_up(self) -> None:
        """Load the model in the executor so the first batch does not pay for it."""
        await self._run(self._get_analyzer)

    async def _analyze(self, mentions: Sequence[Mention]) -> list[Analysis]:
        analyzer: TextAnalyzer = await self._run(self._get_analyzer)
        texts = [m.text for m in mentions]
        langs = [m.lang for m in mentions]
        result: list[Analysis] = await self._run(analyzer.analyze, texts, langs)
        return result

    async def handle(self, batch: Sequence[Msg]) -> int:
        valid: list[tuple[Msg, Mention]] = []
        for msg in batch:
            try:
                valid.append((msg, decode_record(msg.value or b"", Mention)))
            except InvalidMessage as exc:
                metrics.DEADLETTERS.labels(stage="score", error=exc.error_type).inc()
                await self.deadletters.send(msg, exc)
        if not valid:
            return 0
        started = time.perf_counter()
        try:
            analyses: list[Analysis | None] = list(await self._analyze([m for _, m in valid]))
        except Exception:
            log.exception("batch scoring failed; scoring %d mentions one by one", len(valid))
            analyses = []
            for msg, mention in valid:
                try:
                    analyses.append((await self._analyze([mention]))[0])
                except Exception as exc:  # the model chokes on this text: keep it, with why
                    analyses.append(None)
                    await self.deadletters.send(
                        msg,
                        InvalidMessage(
                            f"scoring failed: {type(exc).__name__}: {exc}", "scoring_failed"
                        ),
                    )
        metrics.SCORE_SECONDS.observe(time.perf_counter() - started)
        sent = 0
        for (_, mention), analysis in zip(valid, analyses, strict=True):
            if analysis is None:
                continue
            scored = scored_mention(
                mention,
                analysis,
                model=analysis.model or self._get_analyzer().name,
                with_embedding=self.store_embeddings,
            )
            await self.outbox.send(
                "scored", mention.id, encode(scored), timestamp=mention.created_at.timestamp()
            )
            sent += 1
        metrics.SCORED.inc(sent)
        return sent


def scored_mention(
    mention: Mention, analysis: Analysis, *, model: str, with_embedding: bool = False
) -> ScoredMention:
    data = mention.model_dump()
    data.update(
        sentiment=analysis.sentiment,
        topics=analysis.topics,
        lang=mention.lang or analysis.lang,
        lang_detected=mention.lang is None and analysis.lang is not None,
        model=model,
        embedding=tuple(round(float(x), 5) for x in analysis.embedding) if with_embedding else None,
    )
    return ScoredMention.model_validate(data)
