"""The `earful` command. The composition root: it may import every package; nothing imports it.

Heavy imports (torch, faust) happen inside the commands that need them, so `earful rules check`
answers in a fraction of a second.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from earful.cli import (
    alerts_cmd,
    care_cmd,
    eval_cmd,
    eval_models,
    labels_cmd,
    models_cmd,
    projects_cmd,
    reports_cmd,
    retention_cmd,
    rollups_cmd,
    routes_cmd,
    rules_cmd,
    sample_cmd,
    topics_cmd,
)
from earful.configfile import ConfigError
from earful.json_files import JsonFiles
from earful.settings import CACHE_DIR, Settings

app = typer.Typer(
    help="Earful: social listening and alerting on Kafka + Faust.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(labels_cmd.app, name="labels")
app.add_typer(rules_cmd.app, name="rules")
app.add_typer(alerts_cmd.app, name="alerts")
app.add_typer(sample_cmd.app, name="sample")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(care_cmd.app, name="care")
app.add_typer(routes_cmd.routes_app, name="routes")
app.add_typer(routes_cmd.silences_app, name="silences")
app.add_typer(topics_cmd.app, name="topics")
app.add_typer(projects_cmd.app, name="projects")
app.add_typer(reports_cmd.app, name="reports")
app.add_typer(rollups_cmd.app, name="rollups")
app.add_typer(retention_cmd.app, name="retention")
app.command("audit")(topics_cmd.audit)
eval_cmd.app.command("sentiment")(eval_models.sentiment)
eval_cmd.app.command("topics")(eval_models.topics)
eval_cmd.app.command("topic-corrections")(eval_models.topic_corrections)
eval_cmd.app.command("prepare")(eval_models.prepare)
alerts_cmd.app.command("ack")(routes_cmd.ack)
console = Console(stderr=True)


@app.callback()
def _keep_calibrations() -> None:
    # a dry run (`rules check`), a replay or a backtest would otherwise simulate the CUSUM
    # thresholds again on every start (seconds); the worker keeps them in the same place
    from alerts import calibration  # numpy: imported when a command runs, not for --help

    calibration.remember_in(JsonFiles(CACHE_DIR / "calibration"))


def settings() -> Settings:
    return Settings()


@app.command()
def worker(
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics")] = None,
) -> None:
    """Run the stream worker: score, index, detect and notify."""
    from streams.observability import configure_logging
    from streams.worker import UnsafeTopics, run_worker

    s = settings()
    configure_logging(s.log_level, s.log_format)
    try:
        run_worker(s, metrics_port=metrics_port)
    except UnsafeTopics as exc:
        console.print(f"[red]{exc}[/]")
        raise SystemExit(3) from None


@app.command()
def replay(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JSON lines to publish")
    ],
    speed: Annotated[
        str, typer.Option(help="Pace by event time: 60x plays an hour a minute; max = no pacing")
    ] = "max",
    topic: Annotated[
        str, typer.Option(help="mentions or inbox (a logical topic name)")
    ] = "mentions",
) -> None:
    """Publish a recorded stream to Kafka with its original timestamps."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError, MessageSizeTooLargeError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from earful.codec import InvalidMessage, dead_letter, encode
    from streams.kafka_admin import client_config, ensure_topics, max_message_bytes
    from streams.replay import RECORD_OVERHEAD, parse_speed
    from streams.replay import replay as do_replay

    s = settings()
    try:
        pace = parse_speed(speed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    names = s.topics.model_dump()
    if topic not in ("mentions", "inbox"):
        raise typer.BadParameter("topic must be 'mentions' or 'inbox'")
    ensure_topics(s.kafka)
    limit = max_message_bytes(s.kafka, names[topic])
    producer = KafkaProducer(
        acks="all", linger_ms=20, max_request_size=4 * 1024 * 1024, **client_config(s.kafka)
    )
    total = sum(1 for line in file.open("rb") if line.strip())
    key_fields = ("id",) if topic == "mentions" else ("conversation_id", "id")
    with Progress(
        TextColumn("[bold]replay[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not sys.stderr.isatty() and os.environ.get("EARFUL_PROGRESS") != "1",
    ) as bar:
        task = bar.add_task(f"{file.name} -> {names[topic]}", total=total)
        refused: list[tuple[bytes, bytes | None, Exception]] = []

        def send(raw: bytes, key: bytes | None, ts: int | None) -> None:
            def failed(exc: Exception) -> None:
                refused.append((raw, key, exc))

            # Checked here, not left to the broker: after one MessageSizeTooLarge from the
            # broker, kafka-python's producer fails every later send with the same error.
            size = len(raw) + len(key or b"") + RECORD_OVERHEAD
            if size > limit:
                failed(
                    MessageSizeTooLargeError(
                        f"{size:,} bytes is over {names[topic]}'s max.message.bytes ({limit:,})"
                    )
                )
                return
            try:
                future = producer.send(names[topic], value=raw, key=key, timestamp_ms=ts)
            except KafkaError as exc:  # refused before it left: too large for any request
                failed(exc)
                return
            future.add_errback(failed)

        stats = do_replay(
            file, send, speed=pace, key_fields=key_fields, on_line=lambda: bar.advance(task)
        )
        producer.flush()
    producer.close()
    # What the broker refused is not lost silently: it goes to the dead-letter topic with the
    # broker's reason (truncated if large), like anything the worker cannot process. A fresh
    # producer: after a MessageSizeTooLarge, kafka-python's refuses large records that fit.
    if refused:
        letters = KafkaProducer(
            acks="all", max_request_size=4 * 1024 * 1024, **client_config(s.kafka)
        )
        for raw, key, error in refused:
            letter = dead_letter(
                raw,
                InvalidMessage(
                    f"refused at publish, the broker does not take it: {type(error).__name__}: "
                    f"{error}",
                    "refused_at_publish",
                ),
                source_topic=names[topic],
                received_at=datetime.now(UTC),
                key=key,
            )
            letters.send(names["deadletter"], value=encode(letter), key=key).get(timeout=60)
        letters.close()
    console.print(
        f"sent {stats.sent - len(refused)} messages to {names[topic]} in {stats.seconds:.1f}s"
        + (
            f" ({stats.unparsed} unparseable: the worker will dead-letter them)"
            if stats.unparsed
            else ""
        )
    )
    if refused:
        console.print(
            f"[yellow]{len(refused)} refused by the broker[/] (e.g. {refused[0][2]!r}); "
            f"they are on {names['deadletter']} with the reason"
        )


@app.command()
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the HTTP API and dashboard."""
    import uvicorn

    from streams.api.app import create_api

    s = settings()
    uvicorn.run(
        create_api(s),
        host=host or s.api_host,
        port=port or s.api_port,
        log_level=s.log_level.lower(),
    )


@app.command("api-token")
def api_token(
    name: Annotated[str, typer.Option(help="Who uses it (shown in the audit trail)")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "operator",
) -> None:
    """Make a new random API token and print the setting that enables it."""
    import json
    import secrets

    from earful.settings import ROLE_RANK, ApiToken

    if role not in ROLE_RANK:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLE_RANK)}", param_hint="--role")
    token = ApiToken.model_validate(
        {"name": name, "token": secrets.token_urlsafe(32), "role": role}
    )
    entry = {"name": token.name, "token": token.token.get_secret_value(), "role": token.role}
    typer.echo(f"EARFUL_API__TOKENS='{json.dumps([entry])}'")
    typer.echo("(add it to the list when there are several; keep it secret)", err=True)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        console.print(f"[red]configuration error[/]\n{exc}")
        raise SystemExit(2) from None
