"""Run the Earful Faust worker (`earful worker`)."""

from __future__ import annotations

import logging

from earful.settings import Settings
from streams.app import create_app
from streams.kafka_admin import check_topics, ensure_topics

log = logging.getLogger(__name__)


class UnsafeTopics(RuntimeError):
    """An existing topic is configured so that the broker would drop unread data."""


def verify_topics(settings: Settings) -> None:
    """Create missing topics, then refuse to run on settings that lose data (unless allowed)."""
    ensure_topics(settings.kafka)
    problems = check_topics(settings.kafka, settings.worker.app_id)
    for problem in problems:
        log.warning("topic setting: %s", problem)
    fatal = [p for p in problems if p.fatal]
    if fatal and not settings.kafka.allow_unsafe_topics:
        lines = "\n".join(f"  {p}" for p in fatal)
        raise UnsafeTopics(
            f"refusing to start: these topic settings would lose data\n{lines}\n"
            "Fix them with `earful topics apply` (or your own tooling), or start anyway with "
            "EARFUL_KAFKA__ALLOW_UNSAFE_TOPICS=true."
        )
    if fatal:
        log.error("starting despite unsafe topic settings (EARFUL_KAFKA__ALLOW_UNSAFE_TOPICS)")


def run_worker(settings: Settings, *, metrics_port: int | None = None) -> None:
    from faust.worker import Worker

    from streams.observability import logging_config, serve

    verify_topics(settings)
    earful = create_app(settings)
    port = metrics_port or settings.worker.metrics_port
    if port:
        serve(port, earful.health, settings.worker.metrics_host)
        log.info(
            "metrics on http://%s:%d/metrics, health on /healthz",
            settings.worker.metrics_host,
            port,
        )
    worker = Worker(
        earful.app,
        loglevel=settings.log_level.lower(),
        quiet=True,
        logging_config=logging_config(settings.log_level, settings.log_format),
    )
    worker.execute_from_commandline()
