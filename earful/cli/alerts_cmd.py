"""`earful alerts watch`: follow the alerts topic and print each alert as it fires."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Alerts.", no_args_is_help=True)
console = Console()


def render(alert: object) -> str:
    """An alert as console markup: the words of the chat and email notifiers
    (alerts/notifiers/render.py: values formatted, a usual range or a p-value only where the
    rule has one), with everything the alert quotes escaped, so a post that says "[b]" or a
    brand named "[x]" prints as written and never as markup."""
    from rich.markup import escape

    from alerts.notifiers.render import observed_line
    from earful.records import Alert

    assert isinstance(alert, Alert)
    ev = alert.evidence
    colour = {"critical": "red", "warning": "yellow", "info": "cyan"}[alert.severity]
    head = (
        f"[bold {colour}]{alert.status.upper()} {alert.severity}[/] {escape(alert.kind)} "
        f"[bold]{escape(alert.brand)}[/] at {alert.fired_at:%Y-%m-%d %H:%M}Z"
    )
    lines = [head, f"  {escape(alert.summary)}"]
    if alert.status == "firing":
        lines.append(f"  {escape(observed_line(alert))}")
        for post in ev.top_posts[:3]:
            author = escape(post.author or "?")
            lines.append(f"  · @{author} ({post.followers:,} followers): {escape(post.text[:100])}")
        if ev.top_terms:
            terms = ", ".join(f"{t} ({n})" for t, n in ev.top_terms[:8])
            lines.append(f"  terms: {escape(terms)}")
    return "\n".join(lines)


@app.command("watch")
def watch(
    from_beginning: Annotated[bool, typer.Option(help="Show alerts already on the topic")] = True,
    timeout: Annotated[
        float, typer.Option(help="Stop after this many idle seconds (0 = never)")
    ] = 0,
) -> None:
    """Print alerts from the `alerts` topic as they arrive."""
    from kafka import KafkaConsumer

    from earful.codec import InvalidMessage, decode_record
    from earful.records import Alert
    from earful.settings import Settings
    from streams.kafka_admin import client_config

    s = Settings()
    consumer = KafkaConsumer(
        s.topics.alerts,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout * 1000) if timeout else float("inf"),
        **client_config(s.kafka),
    )
    try:
        for message in consumer:
            try:
                console.print(render(decode_record(message.value, Alert)))
            except InvalidMessage as exc:
                console.print(f"[red]unreadable alert[/]: {exc.reason}")
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
