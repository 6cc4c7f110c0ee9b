"""Inline SVG charts (no scripts, no external loads): faults per COW write, and its trend.

Every text that comes from data is escaped with markupsafe before it enters the SVG; the result
is ``Markup`` so the HTML template can embed it as is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from markupsafe import Markup, escape

from kpatchkit.records.review import Bound, ScenarioOutcome
from kpatchkit.report.sanitize import number

BASE_COLOUR = "#8a94a6"
PATCHED_COLOUR = "#2a7de1"
EXPECT_COLOUR = "#e0a100"


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def _nice_top(values: list[float]) -> float:
    top = max([2.5, *values]) * 1.15
    return float(int(top * 2 + 1)) / 2  # round up to a half


def cow_chart(scenarios: list[ScenarioOutcome], width: int = 980) -> Markup:
    """Grouped bars per scenario (base, patched) with each kernel's expected range drawn."""
    # a corrupt figure (NaN, Infinity) is drawn as missing, never as a broken chart
    scenarios = [dataclasses.replace(s, base=number(s.base), patched=number(s.patched))
                 for s in scenarios]
    rows = [s for s in scenarios if s.base is not None or s.patched is not None
            or s.expect_base or s.expect_patched]
    if not rows:
        return Markup('<p class="muted">No faults-per-COW-write figures were measured.</p>')
    h, top_pad, bottom, left = 330, 30, 110, 48
    plot_h = h - top_pad - bottom
    values = [v for s in rows for v in (s.base, s.patched) if v is not None]
    values += [b.max for s in rows for b in (s.expect_base, s.expect_patched)
               if b is not None and b.max is not None]
    ymax = _nice_top(values)
    group_w = (width - left - 10) / len(rows)
    bar_w = min(42.0, group_w / 3)

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - min(v, ymax) / ymax)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{h}" '
             f'viewBox="0 0 {width} {h}" class="chart" aria-label="TDP faults per COW write">',
             "<title>TDP faults per COW write, base vs patched, per scenario</title>"]
    step = 0.5 if ymax <= 4 else 1.0
    tick = 0.0
    while tick <= ymax + 1e-9:
        ty = y(tick)
        parts.append(f'<line x1="{left}" x2="{width - 5}" y1="{ty:.1f}" y2="{ty:.1f}" '
                     f'stroke="#e3e6ea" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#555">{tick:g}</text>')
        tick += step
    parts.append(f'<text x="12" y="{top_pad + plot_h / 2:.0f}" font-size="11" fill="#333" '
                 f'transform="rotate(-90 12 {top_pad + plot_h / 2:.0f})" text-anchor="middle">'
                 "faults per COW write</text>")
    for i, s in enumerate(rows):
        gx = left + i * group_w + (group_w - 2 * bar_w - 6) / 2
        for j, (kernel, val, bound, colour) in enumerate((
                ("base", s.base, s.expect_base, BASE_COLOUR),
                ("patched", s.patched, s.expect_patched, PATCHED_COLOUR))):
            bx = gx + j * (bar_w + 6)
            parts.append(_expect_mark(bx, bar_w, bound, y, ymax))  # under the bar and label
            if val is not None:
                parts.append(
                    f'<rect x="{bx:.1f}" y="{y(val):.1f}" width="{bar_w:.1f}" '
                    f'height="{y(0) - y(val):.1f}" fill="{colour}">'
                    f"<title>{escape(s.scenario)} {kernel}: {_fmt(val)}</title></rect>")
                parts.append(f'<text x="{bx + bar_w / 2:.1f}" y="{y(val) - 4:.1f}" font-size="11" '
                             f'text-anchor="middle" fill="#222">{_fmt(val)}</text>')
        lx, ly = left + i * group_w + group_w / 2, y(0) + 14
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="11" fill="#222" '
                     f'text-anchor="end" transform="rotate(-30 {lx:.1f} {ly:.1f})">'
                     f"{escape(_short(s.scenario))}</text>")
    parts.append(f'<line x1="{left}" x2="{width - 5}" y1="{y(0):.1f}" y2="{y(0):.1f}" '
                 'stroke="#333" stroke-width="1"/>')
    lx = left + 4
    for label, colour, dash in (("base", BASE_COLOUR, ""), ("patched", PATCHED_COLOUR, ""),
                                ("expected range", EXPECT_COLOUR, ' stroke-dasharray="4 2"')):
        if label == "expected range":
            parts.append(f'<rect x="{lx}" y="8" width="14" height="10" fill="{colour}" '
                         f'fill-opacity="0.25" stroke="{colour}"{dash}/>')
        else:
            parts.append(f'<rect x="{lx}" y="8" width="14" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 18}" y="17" font-size="11" fill="#222">{label}</text>')
        lx += 30 + 7 * len(label)
    parts.append("</svg>")
    return Markup("".join(parts))


def _expect_mark(bx: float, bar_w: float, bound: Bound | None, y, ymax: float) -> str:
    if bound is None:
        return ""
    x0, w = bx - 3, bar_w + 6
    lo = 0.0 if bound.min is None else bound.min
    hi = ymax if bound.max is None else bound.max
    title = f"<title>expected {escape(bound.describe())}</title>"
    height = max(y(lo) - y(hi), 2)
    band = (f'<rect x="{x0:.1f}" y="{y(hi):.1f}" width="{w:.1f}" height="{height:.1f}"'
            f' fill="{EXPECT_COLOUR}" fill-opacity="0.25" stroke="{EXPECT_COLOUR}" '
            f'stroke-dasharray="4 2" stroke-width="1.5">{title}</rect>')
    return band


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


@dataclass
class TrendPoint:
    """One run in the published trend: mean faults per COW write over its claim scenarios."""

    label: str
    base: float | None
    patched: float | None

    def __post_init__(self) -> None:
        # a corrupt figure (NaN, Infinity, text) is a gap in the line, not a broken chart
        self.base, self.patched = number(self.base), number(self.patched)


def trend_chart(points: list[TrendPoint], width: int = 760, height: int = 240) -> Markup:
    """Two polylines (base, patched) of faults per COW write across runs, oldest first."""
    pts = [p for p in points if p.base is not None or p.patched is not None]
    if not pts:
        return Markup('<p class="muted">No run has faults-per-COW-write figures yet.</p>')
    left, right, top, bottom = 48, 12, 28, 60
    ymax = _nice_top([v for p in pts for v in (p.base, p.patched) if v is not None])
    pw, ph = width - left - right, height - top - bottom

    inset = 110  # room for the first run's slanted label, which runs leftwards

    def x(i: int) -> float:
        span = pw - inset - 20
        return left + inset + (span / 2 if len(pts) == 1 else span * i / (len(pts) - 1))

    def y(v: float) -> float:
        return top + ph * (1 - v / ymax)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" class="chart" '
             'aria-label="faults per COW write across runs">',
             "<title>Mean TDP faults per COW write across runs</title>"]
    tick = 0.0
    while tick <= ymax + 1e-9:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
                     f'y2="{y(tick):.1f}" stroke="#e3e6ea"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#555">{tick:g}</text>')
        tick += 0.5 if ymax <= 4 else 1.0
    for attr, colour in (("base", BASE_COLOUR), ("patched", PATCHED_COLOUR)):
        coords = [(x(i), y(getattr(p, attr))) for i, p in enumerate(pts)
                  if getattr(p, attr) is not None]
        if len(coords) > 1:
            poly = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
            parts.append(f'<polyline points="{poly}" fill="none" stroke="{colour}" '
                         'stroke-width="2"/>')
        for (a, b), p in zip(coords, [p for p in pts if getattr(p, attr) is not None],
                             strict=True):
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="{colour}">'
                         f"<title>{escape(p.label)} {attr}: {_fmt(getattr(p, attr))}</title>"
                         "</circle>")
    for i, p in enumerate(pts):
        lx, ly = x(i), top + ph + 14
        parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="10" text-anchor="end" '
                     f'fill="#333" transform="rotate(-25 {lx:.1f} {ly:.1f})">'
                     f"{escape(_short(p.label, 22))}</text>")
    lx = left + 4
    for label, colour in (("base", BASE_COLOUR), ("patched", PATCHED_COLOUR)):
        parts.append(f'<rect x="{lx}" y="8" width="14" height="4" fill="{colour}"/>'
                     f'<text x="{lx + 18}" y="14" font-size="11" fill="#222">{label}</text>')
        lx += 80
    parts.append("</svg>")
    return Markup("".join(parts))
