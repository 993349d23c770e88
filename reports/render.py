"""A composed report as Slack Block Kit, plain text, HTML and an email (HTML with inline PNG
charts, a plain-text part, and optionally the PDF)."""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from reports.compose import Block, Report
from reports.i18n import Text

BODY_STYLE = "font:14px/1.5 system-ui,sans-serif;color:#111827;max-width:760px;margin:auto"


def _goal_lines(report: Report) -> list[str]:
    t = Text(report.language)
    return [
        f"{'✅' if g.on_track else '⚠️'} {g.label}: {g.actual} "
        f"({t('on_track') if g.on_track else t('off_track')})"
        for g in report.goals
    ]


def _block_text(block: Block) -> str:
    lines = [
        f"{m.label}: {m.value}" + (f" ({m.change})" if m.change else "") for m in block.metrics
    ]
    lines += [" · ".join(c for c in row if c) for row in block.rows[:6]]
    lines += block.bullets[:5]
    return "\n".join(lines)


def text(report: Report) -> str:
    t = Text(report.language)
    out = [f"{report.title} — {report.period_text}", ""]
    out += [f"! {w}" for w in report.incomplete]
    if report.narrative:
        out += [t("summary"), *[f"- {s}" for s in report.narrative], ""]
    if report.goals:
        out += [t("goals"), *_goal_lines(report), ""]
    for block in report.blocks:
        out += [block.title, _block_text(block), ""]
    if report.next_steps:
        out += [t("next_steps"), *[f"- {s}" for s in report.next_steps]]
    return "\n".join(out).strip() + "\n"


def slack(report: Report, images: dict[str, str] | None = None) -> dict[str, Any]:
    """Block Kit: a header, the story, goals, then each section with its chart (an image block
    when the chart has a public, signed URL) and a text fallback for notifications."""
    t = Text(report.language)
    images = images or {}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": report.title[:150]}},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{report.period_text} · {report.audience}".strip(" ·")}
            ],
        },
    ]
    for warning in report.incomplete:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: {warning}"}}
        )
    if report.narrative:
        story = "\n".join(f"• {s}" for s in report.narrative)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": story[:2900]}})
    if report.goals:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{t('goals')}*\n" + "\n".join(_goal_lines(report)),
                },
            }
        )
    for block in report.blocks:
        blocks.append({"type": "divider"})
        body = f"*{block.title}*\n{_block_text(block)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}})
        if block.chart and block.chart in images:
            blocks.append(
                {"type": "image", "image_url": images[block.chart], "alt_text": block.title}
            )
    if report.next_steps:
        steps = "\n".join(f"→ {s}" for s in report.next_steps)
        blocks.append({"type": "divider"})
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{t('next_steps')}*\n{steps}"}}
        )
    fallback = f"{report.title} {report.period}: " + " ".join(report.narrative)[:300]
    return {"text": fallback, "blocks": blocks[:50]}


def html_page(report: Report, images: dict[str, str] | None = None) -> str:
    """The report as one HTML document; `images` maps chart names to their `src` (a `cid:` in
    an email, a file name in the archive)."""
    t = Text(report.language)
    images = images or {}
    e = html.escape
    parts = [
        f'<!doctype html><html lang="{e(report.language)}"><head><meta charset="utf-8">'
        f"<title>{e(report.title)} {e(report.period)}</title></head>"
        f"<body style='{BODY_STYLE}'>",
        f"<h1 style='margin-bottom:0'>{e(report.title)}</h1>",
        f"<p style='color:#6b7280;margin-top:4px'>"
        f"{e(report.period_text)} · {e(report.audience)}</p>",
    ]
    for warning in report.incomplete:
        parts.append(f"<p style='color:#b91c1c'>⚠ {e(warning)}</p>")
    if report.narrative:
        parts.append(f"<h2>{e(t('summary'))}</h2><ul>")
        parts += [f"<li>{e(s)}</li>" for s in report.narrative]
        parts.append("</ul>")
    if report.goals:
        parts.append(f"<h2>{e(t('goals'))}</h2><table>")
        for g in report.goals:
            colour = "#15803d" if g.on_track else "#b91c1c"
            state = t("on_track") if g.on_track else t("off_track")
            parts.append(
                f"<tr><td>{e(g.label)}</td><td><b>{e(g.actual)}</b></td>"
                f"<td style='color:{colour}'>{e(state)}</td></tr>"
            )
        parts.append("</table>")
    for block in report.blocks:
        parts.append(f"<h2>{e(block.title)}</h2>")
        if block.metrics:
            parts.append("<table>")
            parts += [
                f"<tr><td>{e(m.label)}</td><td><b>{e(m.value)}</b></td>"
                f"<td style='color:#6b7280'>{e(m.change)}</td></tr>"
                for m in block.metrics
            ]
            parts.append("</table>")
        if block.chart and block.chart in images:
            parts.append(
                f"<p><img src='{e(images[block.chart])}' alt='{e(block.title)}' "
                "style='max-width:100%'></p>"
            )
        if block.rows:
            parts.append("<table style='border-collapse:collapse'>")
            parts.append(
                "<tr>" + "".join(f"<th align=left>{e(h)}</th>" for h in block.headers) + "</tr>"
            )
            for row in block.rows:
                parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
            parts.append("</table>")
        if block.bullets:
            parts.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in block.bullets) + "</ul>")
    if report.next_steps:
        parts.append(f"<h2>{e(t('next_steps'))}</h2><ul>")
        parts += [f"<li>{e(s)}</li>" for s in report.next_steps]
        parts.append("</ul>")
    parts.append("<p style='color:#6b7280;font-size:12px'>Earful</p></body></html>")
    return "\n".join(parts)


def email_message(
    report: Report,
    charts: dict[str, bytes],
    *,
    sender: str,
    to: tuple[str, ...],
    pdf: bytes | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"{report.title} — {report.period_text}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["X-Earful-Report"] = f"{report.name}/{report.period}"
    msg.set_content(text(report))
    cids = {name: make_msgid(domain="earful.local") for name in charts}
    msg.add_alternative(
        html_page(report, {name: f"cid:{cid[1:-1]}" for name, cid in cids.items()}), subtype="html"
    )
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    for name, data in charts.items():
        html_part.add_related(data, "image", "png", cid=cids[name], filename=f"{name}.png")
    if pdf is not None:
        msg.add_attachment(
            pdf,
            maintype="application",
            subtype="pdf",
            filename=f"{report.name}-{report.period}.pdf",
        )
    return msg
