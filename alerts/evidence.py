"""Evidence shared by every detector: what was seen, what was expected, and how to check it."""

from __future__ import annotations

from urllib.parse import urlencode

from alerts.buckets import Post
from alerts.windows import WindowSummary
from earful.records import Evidence, TopPost

TOP_TERMS = 10


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def search_query(
    brand: str,
    window: WindowSummary,
    *,
    sentiment: str | None = None,
    topic: str | None = None,
    term: str | None = None,
) -> str:
    """A Lucene query-string over the mentions index that reproduces the window's mention set."""
    parts = [
        f"brands:{_quote(brand)}",
        f"created_at:[{window.start_dt:%Y-%m-%dT%H:%M:%SZ} TO {window.end_dt:%Y-%m-%dT%H:%M:%SZ}}}",
    ]
    if sentiment:
        parts.append(f"sentiment.label:{sentiment}")
    if topic:
        parts.append(f"topics:{_quote(topic)}")
    if term:
        parts.append(
            f"hashtags:{_quote(term[1:])}" if term.startswith("#") else f"text:{_quote(term)}"
        )
    return " AND ".join(parts)


def search_link(base_url: str | None, query: str) -> str | None:
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}?{urlencode({'q': query})}"


def top_posts(posts: list[Post]) -> tuple[TopPost, ...]:
    from datetime import UTC, datetime

    return tuple(
        TopPost(
            id=p.id,
            text=p.text,
            author=p.author,
            followers=p.followers,
            url=p.url,
            sentiment=p.sentiment if p.sentiment in ("negative", "neutral", "positive") else None,
            created_at=datetime.fromtimestamp(p.at, UTC) if p.at else None,
        )
        for p in posts
    )


def build_evidence(
    window: WindowSummary,
    *,
    observed: float,
    expected: float,
    expected_low: float | None,
    expected_high: float | None,
    unit: str,
    statistic: str,
    statistic_value: float | None,
    p_value: float | None,
    posts: list[Post],
    query: str,
    search_url: str | None,
    baseline_volume: float | None = None,
    history: tuple[float, ...] = (),
) -> Evidence:
    return Evidence(
        observed=observed,
        expected=expected,
        expected_low=expected_low,
        expected_high=expected_high,
        unit=unit,
        statistic=statistic,
        statistic_value=statistic_value,
        p_value=float(f"{p_value:.3g}") if p_value is not None else None,
        volume=window.n,
        baseline_volume=baseline_volume,
        top_posts=top_posts(posts),
        top_terms=tuple(window.top_terms(TOP_TERMS)),
        sentiment_mix={"negative": window.neg, "neutral": window.neu, "positive": window.pos},
        search_query=query,
        search_url=search_link(search_url, query),
        history=history or tuple(float(b.n) for b in window.buckets),
    )


def fmt_span(seconds: int) -> str:
    minutes = seconds // 60
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes} min"
