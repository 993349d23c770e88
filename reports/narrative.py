"""The narrative at the top of a report: the three most important changes of the period in
plain sentences, ranked by size, and what to do next (deterministic templates, no language
model). Each candidate sentence gets a score on one scale: a 10% volume change scores 0.1, a
0.1 change of net sentiment 0.3, a 2-point share-of-voice change 0.08, a critical alert 1.1."""

from __future__ import annotations

from reports.facts import PeriodFacts, ReportFacts
from reports.i18n import Text, clip


def lift(c: PeriodFacts, p: PeriodFacts, topic: str, mentions: int) -> float:
    """How many times more of the brand's mentions are about `topic` than before (smoothed:
    one pseudo-mention keeps a new topic finite)."""
    before = next((x.mentions for x in p.topics if x.topic == topic), 0)
    now = mentions / c.brand.mentions if c.brand.mentions else 0.0
    prior = (before + 1) / (p.brand.mentions + 1)
    return now / prior if prior else 0.0


def narrative(
    facts: ReportFacts, t: Text, sections: tuple[str, ...], tz: str
) -> tuple[list[str], list[str]]:
    c, p = facts.current, facts.previous
    candidates: list[tuple[float, str]] = []
    b, a = c.brand, p.brand
    if a.mentions and abs(b.mentions / a.mentions - 1) >= 0.1:
        r = b.mentions / a.mentions - 1
        key = "n_volume_up" if r > 0 else "n_volume_down"
        pct = t.change(b.mentions, a.mentions).lstrip("+−")
        candidates.append((abs(r), t(key, brand=b.brand, pct=pct, n=t.number(b.mentions))))
    worst = _worst_topic(c, p)
    if b.net_sentiment is not None and a.net_sentiment is not None:
        d = b.net_sentiment - a.net_sentiment
        if abs(d) >= 0.05:
            if d < 0 and worst:
                text = t(
                    "n_sentiment",
                    before=t.signed(a.net_sentiment),
                    after=t.signed(b.net_sentiment),
                    topic=worst,
                )
            else:
                text = t(
                    "n_sentiment_plain",
                    before=t.signed(a.net_sentiment),
                    after=t.signed(b.net_sentiment),
                )
            candidates.append((abs(d) * 3, text))
    if (
        "share_of_voice" in sections
        and c.share_of_voice is not None
        and p.share_of_voice is not None
    ):
        d = c.share_of_voice - p.share_of_voice
        if abs(d) >= 0.02:
            rivals = ", ".join(v.brand for v in c.voices[1:])
            candidates.append(
                (
                    abs(d) * 4,
                    t(
                        "n_sov",
                        before=t.percent(p.share_of_voice),
                        after=t.percent(c.share_of_voice),
                        rivals=rivals,
                    ),
                )
            )
    rising = [(lift(c, p, x.topic, x.mentions), x) for x in c.topics if x.mentions >= 5]
    rising = [(r, x) for r, x in rising if r >= 1.5]
    if rising:
        r, x = max(rising, key=lambda item: item[0])
        candidates.append(
            (
                min(r - 1, 3) * 0.3,
                t("n_topic", topic=x.topic, n=t.number(x.mentions), lift=t.number(round(r, 1))),
            )
        )
    critical = [x for x in c.crises if x.severity == "critical"]
    if critical:
        first = min(critical, key=lambda x: x.fired_at)
        candidates.append(
            (
                1.0 + 0.1 * len(critical),
                t(
                    "n_alerts",
                    n=len(critical),
                    when=t.when(first.fired_at, tz),
                    summary=clip(first.summary, 120),
                ),
            )
        )
    if "care" in sections and c.care and c.care.response_rate is not None:
        before_rate = p.care.response_rate if p.care else None
        d = c.care.response_rate - before_rate if before_rate is not None else 0.0
        candidates.append(
            (
                abs(d) * 3,
                t(
                    "n_care",
                    rate=t.percent(c.care.response_rate),
                    delta=t.points(c.care.response_rate, before_rate),
                    median=t.minutes(c.care.first_reply_median_s),
                ),
            )
        )
    top = [text for _, text in sorted(candidates, key=lambda item: -item[0])[:3]]
    steps = []
    if (
        worst
        and b.net_sentiment is not None
        and a.net_sentiment is not None
        and b.net_sentiment < a.net_sentiment
    ):
        steps.append(t("do_sentiment", topic=worst))
    return (top or [t("n_quiet")]), steps


def _worst_topic(c: PeriodFacts, p: PeriodFacts) -> str | None:
    before = {x.topic: x.negative for x in p.topics}
    grown = [(x.negative - before.get(x.topic, 0), x.topic) for x in c.topics if x.negative]
    grown = [g for g in grown if g[0] > 0]
    return max(grown)[1] if grown else None


def next_steps(
    facts: ReportFacts,
    t: Text,
    behind: list[tuple[str, str, str, str]],
    first: list[str],
) -> list[str]:
    """What to do next: `first` (the narrative's own), then one step for critical alerts
    nobody acknowledged, and one per goal that is behind (`behind`: metric, label, actual,
    target). "Keep the current plan" only where none applies: a week with three
    unacknowledged critical alerts and two goals behind said exactly that."""
    c = facts.current
    steps = list(first)
    silent = [x for x in c.crises if x.severity == "critical" and x.acknowledged_after_s is None]
    if silent:
        steps.append(t("do_ack", n=t.number(len(silent))))
    loudest = max((x for x in c.topics if x.negative), key=lambda x: x.negative, default=None)
    for metric, label, actual, target in behind:
        if metric == "response_rate":
            steps.append(t("do_care"))
        elif metric == "net_sentiment" and loudest is not None:
            steps.append(t("do_sentiment_goal", actual=actual, target=target, topic=loudest.topic))
        else:
            steps.append(t("do_goal", goal=label, actual=actual, target=target))
    return list(dict.fromkeys(steps)) or [t("do_none")]
