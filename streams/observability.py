"""How a person sees the worker: `/metrics` and `/healthz` on one port, and logs (text or JSON).

JSON logs are one event per line with the fields an operator filters on — the mention id, the
alert fingerprint, topic/partition/offset — taken from the `extra` of each log call.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.health import WorkerHealth

#: Fields of a log record that are the record's own (everything else came through `extra`).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


def configure_logging(level: str, fmt: Literal["text", "json"] = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def logging_config(level: str, fmt: Literal["text", "json"]) -> dict[str, Any] | None:
    """The dictConfig Faust's worker applies at start (it replaces the root handlers)."""
    if fmt != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "streams.observability.JsonFormatter"}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"level": level, "handlers": ["default"]},
    }


def serve(port: int, health: WorkerHealth, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve `/metrics` (Prometheus) and `/healthz` (JSON) from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/healthz":
                status, body = health.report()
                payload, kind = json.dumps(body).encode(), "application/json"
            elif self.path.split("?")[0] == "/metrics":
                status, payload, kind = 200, generate_latest(), CONTENT_TYPE_LATEST
            else:
                status, payload, kind = 404, b"not found: try /metrics or /healthz\n", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:  # scrapes every few seconds: keep logs clean
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="earful-metrics", daemon=True).start()
    return server
