"""From facts to a report: the sections a definition asks for, goals against their targets,
and a short narrative — the three most important changes, in plain sentences (deterministic
templates, no language model)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from reports.config import GOAL_METRICS, Goal, ReportDefinition
from reports.facts import PeriodFacts, Post, ReportFacts
from reports.i18n import Text, clip
from reports.narrative import narrative, next_steps


@dataclass(frozen=True)
class Metric:
    label: str
    value: str
    change: str = ""


@dataclass(frozen=True)
class Block:
    key: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    #: Name of the chart drawn for this block (reports/charts.py), if any.
    chart: str | None = None


@dataclass(frozen=True)
class GoalStatus:
    label: str
    actual: str
    target: str
    on_track: bool
    #: Share of the target reached (pro-rated targets: of what was due by now).
    progress: float | None


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    audience: str
    period: str
    period_text: str
    language: str
    narrative: list[str]
    next_steps: list[str]
    goals: list[GoalStatus]
    blocks: list[Block]
    incomplete: list[str]
    facts: ReportFacts


def goal_value(metric: str, p: PeriodFacts) -> float | None:
    care = p.care
    values: dict[str, float | None] = {
        "mentions": p.brand.mentions,
        "reach": p.brand.reach,
        "engagement": p.brand.engagement,
        "share_of_voice": p.share_of_voice,
        "net_sentiment": p.brand.net_sentiment,
        "engagement_rate": p.brand.engagement_rate,
        "response_rate": care.response_rate if care else None,
        "first_reply_median_min": (
            care.first_reply_median_s / 60
            if care and care.first_reply_median_s is not None
            else None
        ),
        "breaches": care.breaches if care else None,
    }
    return values[metric]


def judge(goal: Goal, facts: ReportFacts, t: Text) -> GoalStatus:
    actual = goal_value(goal.metric, facts.current)
    target = goal.target
    cumulative = GOAL_METRICS[goal.metric]
    if cumulative:
        # A running period is judged against what was due by now, not the whole target.
        share = facts_share(facts)
        due = target * share
    else:
        due = target
    fmt = _formatter(goal.metric, t)
    if actual is None:
        return GoalStatus(goal.label or t(goal.metric), "—", fmt(target), False, None)
    on_track = actual >= due if goal.op == ">=" else actual <= due
    progress = (actual / due if due else None) if goal.op == ">=" else None
    return GoalStatus(
        goal.label or f"{t(goal.metric)} {'≥' if goal.op == '>=' else '≤'} {fmt(target)}",
        fmt(actual),
        fmt(target),
        on_track,
        progress,
    )


def facts_share(facts: ReportFacts) -> float:
    c = facts.current
    total = (c.end - c.start).total_seconds()
    done = (min(max(facts.generated_at, c.start), c.end) - c.start).total_seconds()
    return done / total if total else 1.0


def _formatter(metric: str, t: Text) -> Callable[[float], str]:
    if metric in ("share_of_voice", "response_rate", "engagement_rate"):
        return t.percent
    if metric == "net_sentiment":
        return t.signed
    if metric == "first_reply_median_min":
        return lambda v: f"{t.number(round(v, 1))} min"
    return t.number


# -- sections ------------------------------------------------------------------------------------
def _post_line(post: Post, t: Text) -> str:
    text = clip(post.text, 160)
    return f"“{text}” — @{post.author} · {t('engagement').lower()} {t.number(post.engagement)}"


def volume_block(c: PeriodFacts, p: PeriodFacts, t: Text) -> Block:
    b, a = c.brand, p.brand
    return Block(
        "volume",
        t("volume"),
        metrics=[
            Metric(t("mentions"), t.number(b.mentions), t.change(b.mentions, a.mentions)),
            Metric(t("reach"), t.number(b.reach), t.change(b.reach, a.reach)),
            Metric(t("engagement"), t.number(b.engagement), t.change(b.engagement, a.engagement)),
            Metric(
                t("engagement_rate"),
                t.percent(b.engagement_rate, 2),
                t.points(b.engagement_rate, a.engagement_rate),
            ),
        ],
        bullets=[_post_line(x, t) for x in c.top_posts[:3]],
        chart="volume",
    )


def sentiment_block(c: PeriodFacts, p: PeriodFacts, t: Text) -> Block:
    b, a = c.brand, p.brand
    before = {x.topic: x for x in p.topics}
    movers = sorted(
        c.topics,
        key=lambda x: -(x.negative - (before[x.topic].negative if x.topic in before else 0)),
    )[:3]
    rows = [
        [
            x.topic,
            t.number(x.negative),
            t.change(x.negative, before[x.topic].negative if x.topic in before else 0),
            _post_line(x.example, t) if x.example else "",
        ]
        for x in movers
        if x.negative
    ]
    return Block(
        "sentiment",
        t("sentiment"),
        metrics=[
            Metric(
                t("net_sentiment"),
                t.signed(b.net_sentiment),
                t.signed(
                    None
                    if b.net_sentiment is None or a.net_sentiment is None
                    else b.net_sentiment - a.net_sentiment
                ),
            ),
            Metric(
                t("negative_share"),
                t.percent(b.negative_share),
                t.points(b.negative_share, a.negative_share),
            ),
        ],
        headers=["topic", "negative", "change", "example"],
        rows=rows,
        chart="sentiment",
    )


def sov_block(c: PeriodFacts, p: PeriodFacts, t: Text) -> Block:
    total = sum(v.mentions for v in c.voices)
    before = {v.brand: v for v in p.voices}
    total_before = sum(v.mentions for v in p.voices)
    rows = []
    for v in c.voices:
        share = v.mentions / total if total else None
        prev = before.get(v.brand)
        share_before = prev.mentions / total_before if prev and total_before else None
        rows.append(
            [
                v.brand,
                t.number(v.mentions),
                t.percent(share),
                t.points(share, share_before),
                t.signed(v.net_sentiment),
            ]
        )
    return Block(
        "share_of_voice",
        t("share_of_voice"),
        metrics=[
            Metric(
                t("share_of_voice"),
                t.percent(c.share_of_voice),
                t.points(c.share_of_voice, p.share_of_voice),
            )
        ],
        headers=["brand", t("mentions"), t("share"), "Δ", t("net_sentiment")],
        rows=rows,
        chart="share_of_voice",
    )


def topics_block(c: PeriodFacts, p: PeriodFacts, t: Text) -> Block:
    before = {x.topic: x.mentions for x in p.topics}
    rows = [
        [
            x.topic,
            t.number(x.mentions),
            t.change(x.mentions, before.get(x.topic, 0)),
            _post_line(x.example, t) if x.example else "",
        ]
        for x in c.topics[:8]
    ]
    bullets = [
        f"{t('rising')}: {x.term} ({t.number(x.mentions)}, {t.number(x.background)} before)"
        + (f" — {_post_line(x.example, t)}" if x.example else "")
        for x in c.terms[:5]
    ]
    return Block(
        "topics",
        t("topics"),
        headers=["topic", t("mentions"), "Δ", "example"],
        rows=rows,
        bullets=bullets,
        chart="topics",
    )


def _span(seconds: float | None, t: Text) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{t.number(round(seconds / 60))} min"
    return f"{t.number(round(seconds / 3600, 1))} h"


def alerts_block(c: PeriodFacts, p: PeriodFacts, t: Text, tz: str) -> Block:
    rows = []
    for a in c.crises[:12]:
        handled = [
            t("acked_after", d=_span(a.acknowledged_after_s, t))
            if a.acknowledged_after_s is not None
            else t("not_acked"),
        ]
        if a.resolved_after_s is not None:
            handled.append(t("resolved_after", d=_span(a.resolved_after_s, t)))
        rows.append(
            [
                t.when(a.fired_at, tz),
                f"{a.severity} · {a.kind}",
                clip(a.summary, 140),
                ", ".join(handled),
            ]
        )
    critical = sum(1 for a in c.crises if a.severity == "critical")
    return Block(
        "alerts",
        t("alerts"),
        metrics=[
            Metric(
                "critical",
                t.number(critical),
                t.change(critical, sum(1 for a in p.crises if a.severity == "critical")),
            )
        ],
        headers=["when", "alert", "what", "handled"],
        rows=rows,
        bullets=[] if c.crises else [t("no_alerts")],
    )


def care_block(c: PeriodFacts, p: PeriodFacts, t: Text) -> Block:
    now, before = c.care, p.care
    if now is None:
        return Block("care", t("care"), bullets=["—"])
    b = before
    return Block(
        "care",
        t("care"),
        metrics=[
            Metric(
                t("response_rate"),
                t.percent(now.response_rate),
                t.points(now.response_rate, b.response_rate if b else None),
            ),
            Metric(
                t("first_reply_median_min"),
                t.minutes(now.first_reply_median_s),
                t.change(now.first_reply_median_s, b.first_reply_median_s if b else None),
            ),
            Metric(
                t("first_reply_p90"),
                t.minutes(now.first_reply_p90_s),
                t.change(now.first_reply_p90_s, b.first_reply_p90_s if b else None),
            ),
            Metric(
                t("reply_wait"),
                t.minutes(now.reply_wait_median_s),
                t.change(now.reply_wait_median_s, b.reply_wait_median_s if b else None),
            ),
            Metric(t("backlog"), t.number(now.backlog_end), ""),
            Metric(
                t("breaches"),
                t.number(now.breaches),
                t.change(now.breaches, b.breaches if b else None),
            ),
            Metric(
                t("csat"),
                f"{t.number(round(now.csat_mean, 2))} / 5 ({t.number(now.csat_responses)})"
                if now.csat_mean is not None
                else "—",
                t.signed(now.csat_mean - b.csat_mean)
                if b and b.csat_mean is not None and now.csat_mean is not None
                else "",
            ),
            Metric(
                t("shift"),
                t.signed(now.sentiment_shift) if now.sentiment_shift is not None else "—",
                t.signed(now.sentiment_shift - b.sentiment_shift)
                if b and b.sentiment_shift is not None and now.sentiment_shift is not None
                else "",
            ),
        ],
        chart="care",
    )


def campaign_block(c: PeriodFacts, t: Text) -> Block:
    k = c.campaign
    if k is None:
        return Block("campaign", t("campaign"), bullets=["—"])
    return Block(
        "campaign",
        f"{t('campaign')}: {k.name}",
        bullets=[
            t(
                "first_week",
                n=t.number(k.first_week),
                b=t.number(k.baseline_week),
                d=t.change(k.first_week, k.baseline_week),
            ),
            *[_post_line(x, t) for x in k.examples[:3]],
        ],
        metrics=[
            Metric(t("reach"), t.number(k.reach)),
            Metric(
                t("negative_share"), t.percent(k.negative / k.first_week if k.first_week else None)
            ),
        ],
    )


def compose(definition: ReportDefinition, facts: ReportFacts, tz: str) -> Report:
    t = Text(definition.language)
    c, p = facts.current, facts.previous
    builders = {
        "volume": lambda: volume_block(c, p, t),
        "sentiment": lambda: sentiment_block(c, p, t),
        "share_of_voice": lambda: sov_block(c, p, t),
        "topics": lambda: topics_block(c, p, t),
        "alerts": lambda: alerts_block(c, p, t, tz),
        "care": lambda: care_block(c, p, t),
        "campaign": lambda: campaign_block(c, t),
    }
    blocks = [builders[s]() for s in definition.sections if s in builders]
    story, first = narrative(facts, t, definition.sections, tz)
    goals = [judge(g, facts, t) for g in definition.goals]
    behind = [
        (g_def.metric, g.label, g.actual, g.target)
        for g_def, g in zip(definition.goals, goals, strict=True)
        if not g.on_track
    ]
    steps = next_steps(facts, t, behind, first)
    end_shown = c.end.astimezone(c.start.tzinfo) if c.start.tzinfo else c.end
    return Report(
        name=definition.name,
        title=definition.title,
        audience=definition.audience,
        period=c.label,
        period_text=t(
            "period", start=t.day(c.start), end=t.day(end_shown - timedelta(microseconds=1))
        ),
        language=t.language,
        narrative=story if "narrative" in definition.sections else [],
        next_steps=steps if "narrative" in definition.sections else [],
        goals=goals,
        blocks=blocks,
        incomplete=list(facts.incomplete),
        facts=facts,
    )
