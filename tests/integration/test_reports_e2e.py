"""Reports against the real OpenSearch: each section's numbers from indexed fixtures (worked out
by hand below), delivery to loopback Slack (HTTP) and SMTP (aiosmtpd) servers, the archive and
its PDF, and a period never sent twice — by two schedulers racing, or after a restart."""

from __future__ import annotations

import asyncio
import email
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from alerts.care.policies import load_policies
from alerts.routing.config import RoutingConfig
from earful.projects import load_projects
from earful.records import Alert, Author, Engagement, Evidence, ScoredMention, Sentiment
from earful.settings import SearchSettings, Settings
from reports.config import Reports
from reports.periods import parse_period
from streams.dispatch import alert_document
from streams.indexing import mention_document
from streams.report_runner import ReportService
from streams.search import open_store
from streams.search.base import Doc

TZ = "Europe/Ljubljana"
W47 = parse_period("2026-W47", TZ)  # Mon 16 – Sun 22 November 2026
W46 = W47.previous()
NOW = datetime(2026, 11, 23, 8, 1, tzinfo=UTC)  # Monday 09:01 in Ljubljana
S, N, B = "Skyway Air", "Northwind Airlines", "Bluejay Air"


def mentions() -> list[ScoredMention]:
    """Per day at local noon: W47 Skyway 10 (4 negative, 3 positive), Northwind 3, Bluejay 1;
    W46 Skyway 8 (2 negative, 3 positive), Northwind 3, Bluejay 1. Each has 100 followers
    and 2 likes + 1 share; the two wifi complaints a day in W47 are new."""
    out = []
    for week, per_day, negative in ((W46, 8, 2), (W47, 10, 4)):
        for d, day in enumerate(week.days()):
            noon = datetime(day.year, day.month, day.day, 11, tzinfo=UTC)
            for brand, n in ((S, per_day), (N, 3), (B, 1)):
                for k in range(n):
                    label = (
                        "negative"
                        if k < negative
                        else "positive"
                        if k < negative + 3
                        else "neutral"
                    )
                    wifi = brand == S and week is W47 and k < 2
                    text = (
                        f"{'inflight wifi broken' if wifi else 'flight today'} {week.label} {d} {k}"
                    )
                    out.append(
                        ScoredMention(
                            id=f"rep-{brand[:2]}-{week.label}-{d}-{k}",
                            platform="twitter",
                            created_at=noon + timedelta(minutes=k),
                            author=Author(id=f"u{k}", handle=f"u{k}", followers=100),
                            text=text,
                            lang="en",
                            brands=(brand,),
                            engagement=Engagement(likes=2, shares=1),
                            sentiment=Sentiment(label=label, score=0.0),
                            topics=("wifi",)
                            if wifi
                            else ("delays",)
                            if label == "negative"
                            else (),
                        )
                    )
    return out


def alert(kind, status, fired, severity="critical", started=None, team="pr", fp=None) -> Alert:
    return Alert(
        kind=kind,
        brand=S,
        rule="r",
        status=status,
        severity=severity,
        fingerprint=fp or f"fp-{kind}",
        fired_at=fired,
        started_at=started or fired,
        window_start=fired,
        window_end=fired,
        summary=f"{kind} at Skyway Air",
        labels={"team": team},
        evidence=Evidence(observed=1, expected=1),
    )


T_CRISIS = datetime(2026, 11, 17, 14, tzinfo=UTC)
ALERTS = [
    # a crisis that starts as a warning and escalates to critical five minutes later
    alert("volume_spike", "firing", T_CRISIS, severity="warning"),
    alert("volume_spike", "firing", T_CRISIS + timedelta(minutes=5), started=T_CRISIS),
    alert("volume_spike", "resolved", T_CRISIS + timedelta(minutes=90), started=T_CRISIS),
    alert("sla_breach", "firing", datetime(2026, 11, 18, 9, tzinfo=UTC), team="care"),
    # a busy care week before it: hundreds of SLA warnings must not crowd the crisis out
    *(
        alert("sla_warning", "firing", W47.start + timedelta(minutes=i), team="care", fp=f"w{i}")
        for i in range(2500)
    ),
]


def care_snapshots() -> list[Doc]:
    docs = []
    for d, day in enumerate(W47.days()):
        for hour, received, replied, median, csat in (
            (9, 5, 1, 9999.0, 1.0),
            (22, 20, 18, 1800.0, 4.0 + d % 2),  # 4.0 and 5.0 on alternate days, 3 answers each
        ):
            at = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
            docs.append(
                Doc(
                    f"c{d}-{hour}",
                    {
                        "at": at.isoformat(),
                        "scope": "all",
                        "key": "all",
                        "received": received,
                        "replied": replied,
                        "response_rate": replied / received,
                        "first_response_median_s": median,
                        "first_response_p90_s": 2 * median,
                        "reply_wait_median_s": 600.0,
                        "backlog": d,
                        "csat_mean": csat,
                        "csat_responses": 3,
                    },
                    at,
                )
            )
    return docs


REPORTS = """
reports:
  - name: weekly
    title: Weekly social update
    audience: Social team
    project: skyway
    cadence: {cron: "0 9 * * mon", timezone: Europe/Ljubljana, period: week}
    sections: [narrative, volume, sentiment, share_of_voice, topics, alerts, care]
    goals:
      - {metric: response_rate, op: ">=", target: 0.95}
    deliver: {receivers: [social], archive: true, attach_pdf: true}
"""


@pytest.fixture()
async def slack_server(unused_tcp_port_factory):
    posts: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        posts.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = unused_tcp_port_factory()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/hook", posts
    await runner.cleanup()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 Message accepted"


@pytest.fixture()
def smtp_server(unused_tcp_port_factory):
    inbox = Inbox()
    port = unused_tcp_port_factory()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.fixture()
async def services(real_services, run_id, slack_server, smtp_server, tmp_path, monkeypatch):
    slack_url, posts = slack_server
    smtp_port, inbox = smtp_server
    monkeypatch.setenv("EARFUL_TEST_REPORT_SLACK", slack_url)
    store = await open_store(SearchSettings(url=real_services["search"], index_prefix=run_id))
    await store.ensure_setup()
    docs = [Doc(m.id, mention_document(m, indexed_at=NOW), m.created_at) for m in mentions()]
    assert (await store.bulk_index("mentions", docs)).failures == []
    assert (
        await store.bulk_index("alerts", [Doc(a.id, alert_document(a)) for a in ALERTS])
    ).failures == []
    ack = {
        "at": (T_CRISIS + timedelta(minutes=10)).isoformat(),
        "actor": "ann",
        "role": "operator",
        "action": "ack",
        "target": "fp-volume_spike",
        "reason": "",
        "details": {},
    }
    await store.bulk_index("audit", [Doc("a1", ack)])
    assert (await store.bulk_index("care-metrics", care_snapshots())).failures == []
    for kind in ("mentions", "alerts", "audit", "care-metrics"):
        await store.refresh(kind)
    routing = RoutingConfig.from_text(f"""
receivers:
  - name: default
    console: {{}}
  - name: social
    slack: {{url_env: EARFUL_TEST_REPORT_SLACK, channel: "#social"}}
    email:
      {{to: [vp@example.com], from: earful@example.com, host: 127.0.0.1, port: {smtp_port},
       starttls: false}}
route: {{receiver: default}}
""")
    settings = Settings(
        search=SearchSettings(url=real_services["search"], index_prefix=run_id),
        reports={"archive_dir": tmp_path / "archive", "signing_key": "k" * 32},
        public_url="https://earful.example",
    )

    def service() -> ReportService:
        return ReportService(
            settings,
            store,
            Reports.from_text(REPORTS),
            load_projects(None),
            load_policies(None),
            routing,
            clock=lambda: NOW,
        )

    yield service, posts, inbox, tmp_path / "archive"
    await store.close()


async def test_every_section_by_hand(services):
    make, *_ = services
    service = make()
    definition = service.reports.get("weekly")
    rendered = await service.build(definition, W47)
    facts = rendered.report.facts
    c, p = facts.current, facts.previous
    assert (c.brand.mentions, c.brand.negative, c.brand.positive) == (70, 28, 21)
    assert (p.brand.mentions, p.brand.negative, p.brand.positive) == (56, 14, 21)
    assert (c.brand.reach, c.brand.engagement) == (7000, 210)
    assert [v.mentions for v in c.voices] == [70, 21, 7]  # share of voice 70 / 98
    assert [d.mentions for d in c.days] == [10] * 7 and c.days[0].day.isoformat() == "2026-11-16"
    assert {t.topic: (t.mentions, t.negative) for t in c.topics} == {
        "delays": (14, 14),
        "wifi": (14, 14),
    }
    assert "wifi" in [t.term for t in c.terms]  # new this week against last week's background
    assert [a.kind for a in c.alerts] == ["volume_spike"]  # care SLA alerts are care's
    crisis = c.alerts[0]
    assert crisis.severity == "critical" and crisis.fired_at == T_CRISIS
    assert (crisis.acknowledged_after_s, crisis.resolved_after_s) == (600.0, 5400.0)
    # the care figures: the last snapshot of each local day (20 received, 18 replied, 30 min)
    assert (c.care.received, c.care.replied, c.care.first_reply_median_s) == (140, 126, 1800.0)
    assert (c.care.breaches, c.care.warnings, c.care.backlog_end) == (1, 2500, 6)
    # four days at 4.0 and three at 5.0, three answers each: (4 * 4 + 3 * 5) / 7
    assert c.care.csat_responses == 21 and abs(c.care.csat_mean - 31 / 7) < 1e-9
    assert facts.incomplete == ()  # the data reaches the end of the week
    blocks = {b.key: b for b in rendered.report.blocks}
    assert {m.label: m.value for m in blocks["share_of_voice"].metrics} == {
        "Share of voice": "71.4%"
    }
    assert {m.label: m.change for m in blocks["volume"].metrics}["Mentions"] == "+25%"
    goal = rendered.report.goals[0]
    assert (goal.actual, goal.on_track) == ("90.0%", False)


async def test_delivered_to_slack_and_email_and_archived(services):
    make, posts, inbox, _ = services
    service = make()
    definition = service.reports.get("weekly")
    _, where, outcomes = await service.produce(definition, W47, send=True)
    assert [(n, d.outcome.value) for n, d in outcomes] == [
        ("social/slack", "sent"),
        ("social/email", "sent"),
    ]
    [post] = posts
    assert (
        post["channel"] == "#social" and post["blocks"][0]["text"]["text"] == "Weekly social update"
    )
    images = [b["image_url"] for b in post["blocks"] if b["type"] == "image"]
    assert len(images) == 5 and all(
        "/reports/files/weekly/2026-W47/" in u and "sig=" in u for u in images
    )
    [raw] = inbox.messages
    message = email.message_from_bytes(raw)
    kinds = [part.get_content_type() for part in message.walk()]
    assert kinds.count("image/png") == 5 and "text/html" in kinds and "application/pdf" in kinds
    assert message["Subject"].startswith("Weekly social update")
    files = sorted(f.name for f in where.iterdir())
    assert files == sorted(
        [
            "care.png",
            "meta.json",
            "report.html",
            "report.pdf",
            "report.txt",
            "sentiment.png",
            "share_of_voice.png",
            "slack.json",
            "topics.png",
            "volume.png",
        ]
    )
    assert shutil.which("pdftoppm"), "needs pdftoppm (poppler-utils)"
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(where / "report.pdf"), str(where / "page")], check=True
    )
    assert len(list(where.glob("page-*.png"))) == 7  # the summary page and six sections


async def test_a_period_is_sent_once_by_racing_schedulers_and_after_a_restart(services):
    make, posts, _, _ = services
    since = NOW - timedelta(minutes=3)
    first, second = make(), make()  # two workers
    results = await asyncio.gather(
        first.run_due(since, NOW, "w1"), second.run_due(since, NOW, "w2")
    )
    states = sorted(state for result in results for (_, _, state) in result)
    assert states == ["already sent", "sent"]
    assert len(posts) == 1
    restarted = make()
    assert await restarted.run_due(since, NOW, "w1") == [("weekly", "2026-W47", "already sent")]
    assert len(posts) == 1
    # and nothing is due before the cron fires
    assert await restarted.run_due(NOW - timedelta(days=2), NOW - timedelta(days=1), "w1") == []
