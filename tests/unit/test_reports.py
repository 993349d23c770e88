"""Reports from hand-built facts: sections, goals, the narrative, each language, and every
rendering (Slack blocks, text, HTML, email, PNG charts, the PDF checked through pdftoppm)."""

import json
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest

from reports.charts import pdf, pngs
from reports.compose import compose
from reports.config import Goal, ReportDefinition
from reports.facts import (
    AlertFacts,
    BrandFacts,
    CareFacts,
    Day,
    PeriodFacts,
    Post,
    ReportFacts,
    TopicFacts,
)
from reports.periods import parse_period
from reports.render import email_message, html_page, slack, text

W47 = parse_period("2026-W47", "Europe/Ljubljana")
W46 = W47.previous()
POST = Post(
    id="m1",
    text="Cancelled again, third time this month",
    author="ann",
    created_at=W47.start + timedelta(days=1),
    reach=2813,
    engagement=140,
)


def period(p, mentions, negative, positive, reach, topics, alerts=(), care=None, rivals=(300, 100)):
    brand = BrandFacts(
        brand="Skyway Air",
        mentions=mentions,
        negative=negative,
        positive=positive,
        neutral=mentions - negative - positive,
        reach=reach,
        engagement=reach // 100,
    )
    voices = (
        brand,
        BrandFacts(brand="Northwind Airlines", mentions=rivals[0], positive=rivals[0] // 2),
        BrandFacts(brand="Bluejay Air", mentions=rivals[1]),
    )
    days = tuple(Day(day=d, mentions=mentions // 7, negative=negative // 7) for d in p.days())
    return PeriodFacts(
        label=p.label,
        start=p.start,
        end=p.end,
        brand=brand,
        voices=voices,
        days=days,
        top_posts=(POST,),
        topics=topics,
        alerts=alerts,
        care=care,
    )


CRISIS = AlertFacts(
    kind="volume_spike",
    brand="Skyway Air",
    severity="critical",
    team="pr",
    fired_at=datetime(2026, 11, 17, 14, 30, tzinfo=UTC),
    summary="Skyway Air: 84 mentions in 30 min vs 12 expected",
    acknowledged_after_s=600,
    resolved_after_s=5400,
)
FACTS = ReportFacts(
    current=period(
        W47,
        1200,
        480,
        300,
        2_400_000,
        (
            TopicFacts(topic="cancellations", mentions=300, negative=250, example=POST),
            TopicFacts(topic="crew", mentions=100, negative=10),
        ),
        alerts=(CRISIS,),
        care=CareFacts(
            received=400,
            replied=340,
            first_reply_median_s=2400,
            first_reply_p90_s=7200,
            reply_wait_median_s=1200,
            backlog_end=12,
            breaches=5,
            sla_first_reply_s=3600,
            csat_mean=4.25,
            csat_responses=40,
            sentiment_shift=0.31,
            sentiment_shifts=55,
        ),
    ),
    previous=period(
        W46,
        1000,
        250,
        400,
        2_000_000,
        (
            TopicFacts(topic="cancellations", mentions=60, negative=40),
            TopicFacts(topic="crew", mentions=110, negative=12),
        ),
        care=CareFacts(received=380, replied=350, first_reply_median_s=1800),
    ),
    generated_at=W47.end + timedelta(hours=9),
)
DEFINITION = ReportDefinition.model_validate(
    {
        "name": "weekly-social",
        "title": "Weekly social update",
        "audience": "Social team",
        "project": "skyway",
        "sections": [
            "narrative",
            "volume",
            "sentiment",
            "share_of_voice",
            "topics",
            "alerts",
            "care",
        ],
        "goals": [
            {"metric": "share_of_voice", "op": ">=", "target": 0.7},
            {"metric": "reach", "op": ">=", "target": 2_000_000},
            {"metric": "response_rate", "op": ">=", "target": 0.9},
        ],
    }
)


def test_sections_compare_with_the_previous_period():
    report = compose(DEFINITION, FACTS, "Europe/Ljubljana")
    blocks = {b.key: b for b in report.blocks}
    volume = {m.label: (m.value, m.change) for m in blocks["volume"].metrics}
    assert volume["Mentions"] == ("1,200", "+20%")
    assert volume["Reach"] == ("2,400,000", "+20%")
    sentiment = {m.label: (m.value, m.change) for m in blocks["sentiment"].metrics}
    # net sentiment (300 − 480) / 1200 = −0.15, before (400 − 250) / 1000 = +0.15
    assert sentiment["Net sentiment"] == ("−0.15", "−0.30")
    assert sentiment["Negative share"] == ("40.0%", "+15.0 pts")
    assert blocks["sentiment"].rows[0][:3] == ["cancellations", "250", "+525%"]
    sov = {m.label: (m.value, m.change) for m in blocks["share_of_voice"].metrics}
    assert sov["Share of voice"] == ("75.0%", "+3.6 pts")  # 1200/1600 vs 1000/1400
    care = {m.label: (m.value, m.change) for m in blocks["care"].metrics}
    assert care["Response rate"] == ("85.0%", "−7.1 pts")  # 340/400 vs 350/380
    assert care["First reply (median)"] == ("40 min", "+33%")
    assert care["Customer satisfaction (survey)"][0] == "4.2 / 5 (40)"
    assert care["Mood after a reply (sentiment shift)"][0] == "+0.31"
    assert "acknowledged after 10 min, resolved after 1.5 h" in blocks["alerts"].rows[0][3]


def test_goals_on_track_or_not():
    goals = {g.label: g for g in compose(DEFINITION, FACTS, "UTC").goals}
    assert [(g.actual, g.on_track) for g in goals.values()] == [
        ("75.0%", True),
        ("2,400,000", True),
        ("85.0%", False),
    ]


def test_a_running_period_pro_rates_what_adds_up():
    halfway = FACTS.model_copy(update={"generated_at": W47.start + (W47.end - W47.start) / 2})
    reach = compose(DEFINITION, halfway, "UTC").goals[1]
    assert reach.on_track and reach.progress == pytest.approx(2_400_000 / 1_000_000)


def test_the_narrative_tells_the_three_biggest_changes_and_what_to_do():
    report = compose(DEFINITION, FACTS, "Europe/Ljubljana")
    assert len(report.narrative) == 3
    assert report.narrative[0].startswith("1 critical alert(s) fired, the first on")
    assert "Net sentiment moved from +0.15 to −0.15, driven by cancellations." in report.narrative
    assert any(
        s.startswith("“cancellations” is the fastest-growing topic") for s in report.narrative
    )
    assert report.next_steps[0] == "Look into “cancellations”: it carries most negative posts."
    assert "response rate is under goal" in report.next_steps[1]


@pytest.mark.parametrize(
    ("language", "phrase", "number"),
    [
        ("sv", "Nettosentimentet gick från +0,15 till −0,15", "1\xa0200"),  # no-break space
        ("sl", "Neto razpoloženje se je spremenilo z +0,15 na −0,15", "1.200"),
    ],
)
def test_swedish_and_slovenian(language, phrase, number):
    definition = DEFINITION.model_copy(update={"language": language})
    report = compose(definition, FACTS, "Europe/Ljubljana")
    assert any(s.startswith(phrase) for s in report.narrative)
    volume = report.blocks[0].metrics[0]
    assert volume.value == number
    assert "2026" in report.period_text and "nov" in report.period_text.lower()


def test_slack_text_html_and_email():
    report = compose(DEFINITION, FACTS, "UTC")
    charts = pngs(report)
    assert set(charts) == {"volume", "sentiment", "share_of_voice", "topics", "care"}
    assert all(data.startswith(b"\x89PNG") and len(data) > 5000 for data in charts.values())
    message = slack(report, {"volume": "https://earful.example/reports/files/x/volume.png?sig=1"})
    assert message["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Weekly social update"},
    }
    assert [b["type"] for b in message["blocks"]].count("image") == 1
    assert message["text"].startswith("Weekly social update 2026-W47: 1 critical alert")
    json.dumps(message)  # serializable as posted
    plain = text(report)
    assert "Goals" in plain and "⚠️ Response rate ≥ 90.0%: 85.0% (behind)" in plain
    page = html_page(report, {"volume": "volume.png"})
    assert "<img src='volume.png'" in page and "&lt;" not in report.title
    mail = email_message(
        report, charts, sender="earful@example.com", to=("vp@example.com",), pdf=b"%PDF-1.4"
    )
    kinds = [part.get_content_type() for part in mail.walk()]
    assert kinds.count("image/png") == 5 and "text/plain" in kinds and "application/pdf" in kinds


def test_the_pdf_renders_to_pages(tmp_path):
    assert shutil.which("pdftoppm"), "needs pdftoppm: apt-get install poppler-utils (.ci/run does)"
    report = compose(DEFINITION.model_copy(update={"language": "sl"}), FACTS, "UTC")
    data = pdf(report)
    assert data.startswith(b"%PDF")
    (tmp_path / "r.pdf").write_bytes(data)
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(tmp_path / "r.pdf"), str(tmp_path / "page")],
        check=True,
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 1 + len(report.blocks)
    assert all(p.stat().st_size > 2000 for p in pages)


def test_days_follow_the_local_calendar():
    assert FACTS.current.days[0].day == date(2026, 11, 16)


def test_a_moment_says_which_clock_it_is_on():
    """The alerts a report quotes say "since 14:00 UTC": the time beside them names its zone,
    and follows summer time."""
    from reports.i18n import Text

    crisis = datetime(2026, 11, 17, 14, 5, tzinfo=UTC)
    assert Text("en").when(crisis, "Europe/Ljubljana") == "17/11/2026, 15:05 CET"
    assert Text("sv").when(crisis.replace(month=7), "Europe/Stockholm") == "2026-07-17 16:05 CEST"
    assert Text("sl").when(crisis, "UTC") == "17. 11. 2026, 14:05 UTC"


def test_what_to_do_next_covers_silent_alerts_and_every_goal_behind():
    """A week with a critical alert nobody acknowledged and goals behind is not told to keep
    the current plan; a week with neither is."""
    silent = CRISIS.model_copy(update={"acknowledged_after_s": None})
    current = FACTS.current.model_copy(update={"alerts": (silent,)})
    definition = DEFINITION.model_copy(
        update={
            "goals": (
                *DEFINITION.goals,
                Goal(metric="net_sentiment", op=">=", target=0.0),
                Goal(metric="mentions", op=">=", target=2000, label="Mentions 2,000 a week"),
            )
        }
    )
    steps = compose(definition, FACTS.model_copy(update={"current": current}), "UTC").next_steps
    assert steps == [
        "Look into “cancellations”: it carries most negative posts.",
        "1 critical alert(s) were not acknowledged: check that crisis alerts reach someone"
        " who owns them.",
        "Care response rate is under goal: review staffing at peak hours.",
        "Net sentiment is under its goal (−0.15, goal +0.00): look into “cancellations”, which"
        " carries the most negative posts.",
        "“Mentions 2,000 a week” is behind (1,200, goal 2,000): plan what closes the gap before"
        " the next report.",
    ]
    calm = FACTS.model_copy(update={"previous": FACTS.current})  # nothing moved
    on_track = DEFINITION.model_copy(update={"goals": DEFINITION.goals[:2]})
    assert compose(on_track, calm, "UTC").next_steps == [
        "Keep the current plan; nothing needs a change."
    ]


def test_a_long_summary_is_cut_at_a_word_with_an_ellipsis():
    from reports.i18n import clip

    summary = (
        "Skyway Air: 33 mentions since 14:00 UTC (4.0x the 8 expected), 73% negative vs 33% "
        "usually; started around 14:00, 5 min before this alert"
    )
    start = "Skyway Air: 33 mentions since 14:00 UTC (4.0x the 8 expected), 73% negative vs 33% "
    assert clip(summary, 120) == start + "usually; started around 14:00, 5 min…"  # a word ends
    assert clip(summary, 118) == start + "usually; started around 14:00, 5…"  # inside "min"
    assert len(clip(summary, 120)) <= 120
    assert clip("short", 120) == "short"
    assert clip("x" * 200, 10) == "x" * 9 + "…"  # no word to cut at
