"""Inline SVG sparklines: no JavaScript, render anywhere (dashboard, email, screenshots)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup


def sparkline(
    values: Sequence[float | None],
    *,
    width: int = 240,
    height: int = 40,
    colour: str = "#2563eb",
    fill: str = "#dbeafe",
    title: str = "",
    max_value: float | None = None,
) -> Markup:
    points = [v if v is not None else 0.0 for v in values]
    if not points:
        return Markup("")
    top = max_value if max_value is not None else max(*points, 1e-9)
    step = width / max(len(points) - 1, 1)
    coords = [(i * step, height - 2 - (v / top) * (height - 4)) for i, v in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    area = f"0,{height} {line} {width},{height}"
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<polygon points="{area}" fill="{fill}"/>'
        f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.5"/></svg>'
    )
