"""`earful care report`: the period's care figures from an inbox log (the weekly report)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Customer care.", no_args_is_help=True)
console = Console(stderr=True)


def replay_inbox(lines: list[bytes], policies: Any, until: datetime) -> tuple[Any, list[Any], int]:
    """Apply an inbox log in event order through the same driver as the stream; returns
    metrics, SLA alerts raised, malformed count."""
    from alerts.care.conversation import CareTracker
    from alerts.care.driver import CareDriver, frozen_clock
    from alerts.care.metrics import CareMetrics
    from earful.codec import InvalidMessage, decode_record
    from earful.records import InboxRecord

    conversations: dict[str, dict[str, Any]] = {}
    driver = CareDriver(CareTracker(policies), conversations, clock=frozen_clock)
    metrics = CareMetrics(policies.metrics_window)
    alerts: list[Any] = []
    malformed = 0
    events = []
    for line in lines:
        if not line.strip():
            continue
        try:
            events.append(decode_record(line, InboxRecord).root)
        except InvalidMessage:
            malformed += 1
    for event in sorted(events, key=lambda e: e.at):
        if event.at >= until:
            break
        driver.clock(0).observe(event.at)
        alerts += driver.tick()  # SLA clocks run up to this event's time
        found, facts = driver.apply([(event, 0, None)])
        alerts += found
        for fact in facts:
            metrics.add(fact)
    alerts += driver.finish(until)
    return metrics, alerts, malformed


@app.command("report")
def report(
    input: Annotated[
        Path,
        typer.Option(
            "--input", exists=True, dir_okay=False, help="Inbox events, one JSON per line"
        ),
    ],
    start: Annotated[datetime, typer.Option("--from", help="Start (ISO 8601, UTC if no zone)")],
    end: Annotated[datetime, typer.Option("--to", help="End (ISO 8601, UTC if no zone)")],
    policies: Annotated[Path | None, typer.Option(help="SLA policies YAML")] = None,
) -> None:
    """Print the period's figures: response times, response rate, backlog, SLA breaches."""
    from datetime import UTC

    from alerts.care.policies import load_policies

    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    loaded = load_policies(policies)
    loaded = loaded.model_copy(update={"metrics_window": end - start})
    metrics, alerts, malformed = replay_inbox(input.read_bytes().splitlines(), loaded, end)
    rows = metrics.snapshot(end)
    breaches = [
        a
        for a in alerts
        if a.kind == "sla_breach" and a.status == "firing" and start <= a.fired_at < end
    ]
    warnings = [
        a
        for a in alerts
        if a.kind == "sla_warning" and a.status == "firing" and start <= a.fired_at < end
    ]

    def minutes(v: float | None) -> str:
        return "—" if v is None else f"{v / 60:.0f} min"

    table = Table(
        title=f"Care report {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC "
        "(business-time response figures)"
    )
    for col in (
        "scope",
        "received",
        "first replies",
        "response rate",
        "first reply median",
        "first reply p90",
        "reply wait median",
        "backlog",
        "oldest waiting",
    ):
        table.add_column(col, justify="left" if col == "scope" else "right")
    for r in rows:
        rate = "—" if r["response_rate"] is None else f"{r['response_rate']:.0%}"
        table.add_row(
            f"{r['scope']}: {r['key']}",
            str(r["received"]),
            str(r["first_responses"]),
            rate,
            minutes(r["first_response_median_s"]),
            minutes(r["first_response_p90_s"]),
            minutes(r["reply_wait_median_s"]),
            "" if r["backlog"] is None else str(r["backlog"]),
            minutes(r["backlog_oldest_s"]),
        )
    console.print(table)
    by_policy: dict[str, int] = {}
    for a in breaches:
        by_policy[a.rule] = by_policy.get(a.rule, 0) + 1
    console.print(
        f"SLA breaches: {len(breaches)} {by_policy or ''}; pre-breach warnings: "
        f"{len(warnings)}; malformed events skipped: {malformed}"
    )
    overall: dict[str, Any] = next((r for r in rows if r["scope"] == "all"), {})
    sys.stdout.write(
        json.dumps(
            {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "overall": overall,
                "breaches": len(breaches),
                "breaches_by_policy": by_policy,
                "warnings": len(warnings),
                "rows": rows,
            }
        )
        + "\n"
    )
