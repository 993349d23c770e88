"""Words and pictures shared by the chat and email notifiers."""

from __future__ import annotations

from earful.records import Alert

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: tuple[float, ...] | list[float]) -> str:
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1)))] for v in values)


def fmt_value(value: float, unit: str) -> str:
    return f"{value:.0%}" if "share" in unit else f"{value:g}"


def observed_line(alert: Alert) -> str:
    ev = alert.evidence
    interval = ""
    if ev.expected_low is not None and ev.expected_high is not None:
        interval = (
            f" (usual range {fmt_value(ev.expected_low, ev.unit)}–"
            f"{fmt_value(ev.expected_high, ev.unit)})"
        )
    p = f", p={ev.p_value:.1e}" if ev.p_value is not None else ""
    return (
        f"observed {fmt_value(ev.observed, ev.unit)} vs expected "
        f"{fmt_value(ev.expected, ev.unit)}{interval} — {ev.unit}{p}"
    )


def window_line(alert: Alert) -> str:
    return f"{alert.window_start:%Y-%m-%d %H:%M}–{alert.window_end:%H:%M} UTC"


def post_lines(alert: Alert, k: int = 3) -> list[str]:
    return [
        f"@{p.author or '?'} ({p.followers:,} followers): {p.text[:180]}"
        for p in alert.evidence.top_posts[:k]
    ]


def terms_line(alert: Alert, k: int = 6) -> str:
    return ", ".join(f"{t} ({n})" for t, n in alert.evidence.top_terms[:k])


def plain_text(alerts: tuple[Alert, ...], title: str, links: dict[str, str]) -> str:
    lines = [title, ""]
    for a in alerts:
        state = "RESOLVED" if a.status == "resolved" else a.severity.upper()
        lines.append(f"[{state}] {a.summary}")
        lines.append(f"  {window_line(a)}; {observed_line(a)}")
        spark = sparkline(a.evidence.history)
        if spark:
            lines.append(f"  recent: {spark}")
        lines += [f"  · {p}" for p in post_lines(a)]
        if a.evidence.top_terms:
            lines.append(f"  terms: {terms_line(a)}")
        if a.evidence.search_url:
            lines.append(f"  mentions: {a.evidence.search_url}")
        lines.append("")
    lines += [f"{name}: {url}" for name, url in links.items() if url]
    return "\n".join(lines)


def links(notification_public_url: str, silence_url: str) -> dict[str, str]:
    return {"dashboard": notification_public_url, "silence": silence_url}
