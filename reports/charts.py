"""Report charts as PNG, and the leadership PDF, with matplotlib (Agg: no display needed).

Colours are the dashboard's (streams/api/static/app.css), so a chart reads the same in Slack,
an email, the PDF and the browser.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from reports.compose import Report
from reports.facts import ReportFacts

INK, MUTED, ACCENT = "#111827", "#6b7280", "#4f46e5"
NEG, NEU, POS = "#dc2626", "#9ca3af", "#16a34a"
PALETTE = ["#4f46e5", "#0891b2", "#d97706", "#db2777", "#65a30d", "#7c3aed"]

plt.rcParams.update(
    {
        "font.size": 9,
        "axes.edgecolor": "#d1d5db",
        "axes.labelcolor": INK,
        "xtick.color": MUTED,
        "ytick.color": MUTED,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def _figure(width: float = 6.4, height: float = 2.6) -> tuple[Figure, Axes]:
    fig = plt.figure(figsize=(width, height), dpi=110)
    return fig, fig.add_subplot(1, 1, 1)


def volume(f: ReportFacts) -> Figure:
    fig, ax = _figure()
    now = f.current.days
    before = f.previous.days
    xs = list(range(len(now)))
    ax.bar(xs, [d.mentions for d in now], color=ACCENT, label=f.current.label)
    if before:
        ax.plot(
            xs[: len(before)],
            [d.mentions for d in before][: len(xs)],
            color=MUTED,
            marker="o",
            markersize=3,
            label=f.previous.label,
        )
    ax.set_xticks(xs, [d.day.strftime("%d.%m") for d in now], rotation=0)
    ax.set_title("mentions per day", loc="left", color=INK)
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    return fig


def sentiment(f: ReportFacts) -> Figure:
    fig, ax = _figure()
    days = f.current.days
    xs = list(range(len(days)))
    neg = [d.negative for d in days]
    rest = [d.mentions - d.negative for d in days]
    ax.bar(xs, neg, color=NEG, label="negative")
    ax.bar(xs, rest, bottom=neg, color=NEU, label="neutral / positive")
    ax.set_xticks(xs, [d.day.strftime("%d.%m") for d in days])
    ax.set_title("mentions per day by sentiment", loc="left", color=INK)
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    return fig


def share_of_voice(f: ReportFacts) -> Figure:
    fig, ax = _figure(height=max(1.6, 0.5 * len(f.current.voices) + 0.8))
    total = sum(v.mentions for v in f.current.voices) or 1
    total_before = sum(v.mentions for v in f.previous.voices) or 1
    before = {v.brand: v.mentions / total_before for v in f.previous.voices}
    names = [v.brand for v in f.current.voices][::-1]
    shares = [v.mentions / total for v in f.current.voices][::-1]
    ys = list(range(len(names)))
    ax.barh(ys, shares, color=[PALETTE[i % len(PALETTE)] for i in range(len(names))][::-1])
    ax.scatter(
        [before.get(n, 0) for n in names], ys, color=INK, marker="|", s=200, label=f.previous.label
    )
    ax.set_yticks(ys, names)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("share of voice (| = previous period)", loc="left", color=INK)
    return fig


def topics(f: ReportFacts) -> Figure:
    items = list(f.current.topics[:8])[::-1]
    fig, ax = _figure(height=max(1.6, 0.35 * len(items) + 0.8))
    ys = list(range(len(items)))
    ax.barh(ys, [x.mentions for x in items], color=ACCENT, label="all")
    ax.barh(ys, [x.negative for x in items], color=NEG, label="negative")
    ax.set_yticks(ys, [x.topic for x in items])
    ax.set_title("topics", loc="left", color=INK)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return fig


def care(f: ReportFacts) -> Figure:
    fig, ax = _figure(height=2.0)
    c, p = f.current.care, f.previous.care
    labels = ["first reply median", "first reply p90", "reply wait median"]
    keys = ["first_reply_median_s", "first_reply_p90_s", "reply_wait_median_s"]
    ys = list(range(len(labels)))[::-1]
    now = [(getattr(c, k) or 0) / 60 if c else 0 for k in keys]
    ax.barh(ys, now, color=ACCENT, label=f.current.label)
    if p:
        ax.scatter(
            [(getattr(p, k) or 0) / 60 for k in keys],
            ys,
            color=INK,
            marker="|",
            s=200,
            label=f.previous.label,
        )
    if c and c.sla_first_reply_s:
        ax.axvline(c.sla_first_reply_s / 60, color=NEG, linestyle="--", linewidth=1, label="SLA")
    ax.set_yticks(ys, labels)
    ax.set_xlabel("minutes")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return fig


CHARTS: dict[str, Callable[[ReportFacts], Figure]] = {
    "volume": volume,
    "sentiment": sentiment,
    "share_of_voice": share_of_voice,
    "topics": topics,
    "care": care,
}


def png(name: str, facts: ReportFacts) -> bytes:
    fig = CHARTS[name](facts)
    out = io.BytesIO()
    fig.tight_layout()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def pngs(report: Report) -> dict[str, bytes]:
    return {b.chart: png(b.chart, report.facts) for b in report.blocks if b.chart}


def _wrap(text: str, width: int = 95) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def pdf(report: Report) -> bytes:
    """An A4 document: the summary page (narrative, goals, next steps), then one page per
    section with its figures, chart and table."""
    out = io.BytesIO()
    with PdfPages(
        out, metadata={"Title": f"{report.title} {report.period}", "Creator": "Earful"}
    ) as doc:
        page = plt.figure(figsize=(8.27, 11.69))
        y = 0.95
        page.text(0.07, y, report.title, fontsize=20, weight="bold", color=INK)
        y -= 0.03
        page.text(0.07, y, f"{report.period_text} · {report.audience}", fontsize=10, color=MUTED)
        y -= 0.05
        for warning in report.incomplete:
            page.text(0.07, y, "⚠ " + _wrap(warning), fontsize=9, color=NEG)
            y -= 0.03
        for line in report.narrative:
            wrapped = _wrap("• " + line)
            page.text(0.07, y, wrapped, fontsize=11, color=INK, va="top")
            y -= 0.025 * (wrapped.count("\n") + 1) + 0.01
        if report.goals:
            y -= 0.02
            page.text(0.07, y, "Goals", fontsize=13, weight="bold", color=INK)
            y -= 0.03
            for g in report.goals:
                mark = "✓" if g.on_track else "✗"
                colour = POS if g.on_track else NEG
                page.text(
                    0.07,
                    y,
                    f"{mark}  {g.label}: {g.actual} (target {g.target})",
                    fontsize=10,
                    color=colour,
                )
                y -= 0.025
        if report.next_steps:
            y -= 0.02
            for step in report.next_steps:
                page.text(0.07, y, "→ " + _wrap(step), fontsize=10, color=INK, va="top")
                y -= 0.03
        doc.savefig(page)
        plt.close(page)
        for block in report.blocks:
            page = plt.figure(figsize=(8.27, 11.69))
            page.text(0.07, 0.95, block.title, fontsize=16, weight="bold", color=INK)
            y = 0.91
            for m in block.metrics:
                page.text(0.07, y, f"{m.label}: {m.value}   {m.change}", fontsize=11, color=INK)
                y -= 0.025
            if block.chart:
                chart = CHARTS[block.chart](report.facts)
                buf = io.BytesIO()
                chart.tight_layout()
                chart.savefig(buf, format="png")
                plt.close(chart)
                buf.seek(0)
                image = plt.imread(buf)
                ax = page.add_axes((0.07, y - 0.33, 0.86, 0.32))
                ax.imshow(image)
                ax.axis("off")
                y -= 0.36
            lines = [" · ".join(r) for r in block.rows[:10]] + block.bullets[:6]
            for line in lines:
                wrapped = _wrap(line, 100)
                page.text(0.07, y, wrapped, fontsize=8.5, color=INK, va="top")
                y -= 0.018 * (wrapped.count("\n") + 1) + 0.006
                if y < 0.05:
                    break
            doc.savefig(page)
            plt.close(page)
    return out.getvalue()
