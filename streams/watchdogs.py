"""The worker's watchdogs: partitions that stopped making progress (and rebalances that never
end) are healed or said out loud, and consumer lag is sampled for /healthz and the metrics,
each on its own timer (streams/faust_consumer.py, streams/lag.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faust

from earful.settings import Settings
from streams import faust_consumer
from streams.health import WorkerHealth
from streams.lag import GroupOffsets, OffsetResetWatch, ProgressMonitor

log = logging.getLogger(__name__)


def install_watchdogs(
    app: faust.App, settings: Settings, health: WorkerHealth, steps: dict[str, Any]
) -> None:
    """Add the watchdog timers to `app` (`steps`: the index and detect steps report their
    backlog and late observations to `health` at each lag sample)."""
    w = settings.worker
    names = settings.topics.model_dump()
    #: Since when a rebalance has held the streams (the net waits for it), and whether that
    #: was said: a rebalance that never ends is a stall the net cannot heal, and must be seen.
    rebalancing_since: list[float | None] = [None, None]

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def heal_stuck_partitions() -> None:
        consumer = app.consumer
        now = time.monotonic()
        if app.rebalancing:
            since = rebalancing_since[0] = rebalancing_since[0] or now
            health.held_since = since  # /healthz `streams_held_s` (the same monotonic clock)
            if now - since >= 4 * w.heal_after_s and rebalancing_since[1] is None:
                rebalancing_since[1] = now
                log.warning(
                    "a rebalance (or the table recovery after it) has held the streams for "
                    "%.0f s; partitions are not checked for progress until it ends",
                    now - since,
                )
            if isinstance(consumer, faust_consumer.SafeConsumer):
                try:  # the recovery's own changelog partitions are watched meanwhile
                    await consumer.heal_recovery(now, w.heal_after_s)
                except Exception as exc:  # a rebalance starting again ends this round
                    log.warning("could not check the table recovery for progress: %s", exc)
            return
        rebalancing_since[:] = [None, None]
        health.held_since = None
        if isinstance(consumer, faust_consumer.SafeConsumer):
            try:
                await consumer.heal(now, w.heal_after_s)
            except Exception as exc:  # the broker may be briefly away; the next round retries
                log.warning("could not check partitions for progress: %s", exc)

    monitor = ProgressMonitor(
        GroupOffsets(settings.kafka),
        w.app_id,
        [names[k] for k in settings.topics.CONSUMED],
        health,
        OffsetResetWatch().install(),
    )
    monitor_thread = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="earful-monitor")]

    @app.timer(interval=w.lag_interval_s)  # type: ignore[untyped-decorator]
    async def watch_progress() -> None:
        health.search_backlog = steps["index"].backlog
        health.late_observations = steps["detect"].late
        run = asyncio.get_running_loop().run_in_executor(monitor_thread[0], monitor.run_once)
        try:
            await asyncio.wait_for(run, timeout=max(30.0, 4 * w.lag_interval_s))
        except TimeoutError:
            # a broker call that never answers must not freeze the lag sampling: leave that
            # thread behind, and sample with fresh clients from a fresh one
            log.warning("consumer lag sample hung; reconnecting")
            monitor_thread[0].shutdown(wait=False)
            monitor_thread[0] = ThreadPoolExecutor(1, thread_name_prefix="earful-monitor")
            monitor.offsets = GroupOffsets(settings.kafka)
        except Exception as exc:  # the broker may be briefly away; the next sample retries
            log.warning("consumer lag sample failed: %s", exc)
