"""Server-rendered SVG charts: no script, no external asset, readable without JavaScript."""

from __future__ import annotations

import datetime

from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def line_chart_svg(points: list[tuple[datetime.date, int]], *, label: str) -> SafeString:
    """A line of daily counts with its scale; scales with its container (viewBox)."""
    if not points:
        return format_html('<p class="chart-empty">{}: no data yet.</p>', label)
    top = max(max(n for _, n in points), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def xy(index: int, value: int) -> str:
        return f"{LEFT + index * step:.1f},{TOP + plot_h - value / top * plot_h:.1f}"

    line = " ".join(xy(i, n) for i, (_, n) in enumerate(points))
    gridlines = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, y, y, LEFT - 6, y + 4, value)
            for value, y in ((v, TOP + plot_h - v / top * plot_h) for v in _ticks(top))
        ),
    )
    first, last = points[0][0], points[-1][0]
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="chart-title" '
        'xmlns="http://www.w3.org/2000/svg"><title id="chart-title">{label}: {now} today</title>'
        "{grid}"
        '<polyline points="{line}" class="series" fill="none"/>'
        '<text x="{left}" y="{base}" class="axis">{first}</text>'
        '<text x="{right}" y="{base}" class="axis" text-anchor="end">{last}</text></svg>',
        w=WIDTH, h=HEIGHT, label=label, now=points[-1][1], grid=gridlines, line=line,
        left=LEFT, right=WIDTH - RIGHT, base=HEIGHT - 8,
        first=date_format(first, "DATE_FORMAT"), last=date_format(last, "DATE_FORMAT"),
    )


def _ticks(top: int) -> list[int]:
    """0, the middle and the top of the scale, as whole numbers without repeats."""
    return sorted({0, top // 2, top})
