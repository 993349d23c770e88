"""Run the Earful Faust worker (`earful worker`)."""

from __future__ import annotations

import logging

from earful.settings import Settings
from streams.app import create_app
from streams.kafka_admin import ensure_topics

log = logging.getLogger(__name__)


def run_worker(settings: Settings, *, metrics_port: int | None = None) -> None:
    from faust.worker import Worker

    ensure_topics(settings.kafka)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
        log.info("metrics on http://127.0.0.1:%d/metrics", metrics_port)
    earful = create_app(settings)
    worker = Worker(earful.app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
