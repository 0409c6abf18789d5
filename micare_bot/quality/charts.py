"""Charts drawn on the server as inline SVG: no script, no external asset, no inline style.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that
says the numbers in words, so a screen reader gets the figure; the page also
shows the same numbers as a table. Colours are presentation attributes (a
strict ``style-src 'self'`` CSP allows them) chosen for contrast on white.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

from markupsafe import Markup

BAR = "#1f4e79"  # navy: 9.4:1 on white
SERIES = ("#1f4e79", "#b5441a", "#2e6b30", "#6b3fa0")  # navy, rust, green, purple (each >= 4.5:1)
AXIS = "#595959"
TEXT = "#222222"


def _fmt(value: float | None, percent: bool) -> str:
    if value is None:
        return "no data"
    if percent:
        return f"{value:.0%}"
    return f"{value:g}"


def _svg_open(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-t {chart_id}-d" focusable="false">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]


def bar_chart(chart_id: str, title: str, items: Sequence[tuple[str, float | None]], *, percent: bool = False,
              width: int = 520, bar_height: int = 22) -> Markup:
    """Horizontal bars, one per (label, value), the value written at the end of each bar."""
    longest = max((len(label) for label, _ in items), default=0)
    label_w = int(min(width * 0.5, max(90, 7.2 * longest + 12)))  # 13 px text: about 7 px a character
    value_w = 60
    gap = 8
    height = max(1, len(items)) * (bar_height + gap) + gap
    values = [v for _, v in items if v is not None]
    top = 1.0 if percent else max(values + [1.0])
    span = width - label_w - value_w
    desc = "; ".join(f"{label}: {_fmt(v, percent)}" for label, v in items) or "no data"
    parts = _svg_open(chart_id, title, desc, width, height)
    parts.append('<g aria-hidden="true">')
    if not items:
        parts.append(f'<text x="0" y="{gap + bar_height - 6}" fill="{TEXT}" font-size="13">No data</text>')
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_height + gap)
        length = 0 if value is None else max(0.0, min(1.0, value / top)) * span
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_height - 6}" text-anchor="end" fill="{TEXT}" '
                     f'font-size="13">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{BAR}"/>')
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{y + bar_height - 6}" fill="{TEXT}" '
                     f'font-size="13">{escape(_fmt(value, percent))}</text>')
    parts.append(f'<line x1="{label_w}" y1="0" x2="{label_w}" y2="{height}" stroke="{AXIS}"/>')
    parts.append("</g></svg>")
    return Markup("".join(parts))


def line_chart(chart_id: str, title: str, labels: Sequence[str],
               series: Sequence[tuple[str, Sequence[float | None]]], *, percent: bool = False,
               width: int = 560, height: int = 220) -> Markup:
    """One line per series over ``labels`` (weeks); a gap where a value is missing; a legend below."""
    left, right, top_pad, bottom = 48, 16, 12, 56
    plot_w = width - left - right
    plot_h = height - top_pad - bottom
    values = [v for _, vs in series for v in vs if v is not None]
    top = 1.0 if percent else max(values + [1.0])
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h - (v / top) * plot_h

    desc = ". ".join(
        f"{name}: " + ", ".join(f"week of {lab} {_fmt(v, percent)}" for lab, v in zip(labels, vs))
        for name, vs in series) or "no data"
    parts = _svg_open(chart_id, title, desc, width, height)
    parts.append('<g aria-hidden="true">')
    for frac in (0.0, 0.5, 1.0):
        gy = y(top * frac)
        parts.append(f'<line x1="{left}" y1="{gy:.1f}" x2="{width - right}" y2="{gy:.1f}" stroke="#d0d0d0"/>')
        parts.append(f'<text x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end" fill="{TEXT}" font-size="12">'
                     f'{escape(_fmt(top * frac, percent))}</text>')
    for i, lab in enumerate(labels):
        parts.append(f'<text x="{x(i):.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" fill="{TEXT}" '
                     f'font-size="12">{escape(lab[5:])}</text>')
    for k, (name, vs) in enumerate(series):
        colour = SERIES[k % len(SERIES)]
        run: list[str] = []
        for i, v in enumerate(vs):
            if v is None:
                if len(run) > 1:
                    parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                                 f'stroke-width="2.5"/>')
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}"/>')
        if len(run) > 1:
            parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        lx = left + k * 150
        ly = height - 14
        parts.append(f'<rect x="{lx}" y="{ly - 10}" width="14" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 20}" y="{ly - 4}" fill="{TEXT}" font-size="12">{escape(name)}</text>')
    parts.append("</g></svg>")
    return Markup("".join(parts))
