"""Draw a trend as an SVG chart: volume as bars, the share of complaints on time (of
those decided, counted in complaints, not clocks) as a line, the target.

Hand-written SVG, so the service needs no plotting library; browsers, the Prefect UI
(as a link) and most chat tools show it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from domain.kpi_definitions import ON_TIME
from processes.reviews.trends import TrendPoint

WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 48, 64
BAR, LINE, TARGET, INK = "#9ecae1", "#d94801", "#31a354", "#333333"


def _x(index: int, count: int) -> float:
    plot = WIDTH - LEFT - RIGHT
    return LEFT + plot * (index + 0.5) / count


def _y(fraction: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - fraction)


def _text(x: float, y: float, label: str, anchor: str = "middle", size: int = 11) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{INK}">{escape(label)}</text>')


def render_svg(points: Sequence[TrendPoint], *, title: str, label_format: str = "%m-%d"
               ) -> str:
    """Draw `points`: bars of complaints opened, a line of the share of complaints on
    time, the target."""
    count = max(len(points), 1)
    most = max([p.opened for p in points] + [1])
    width = (WIDTH - LEFT - RIGHT) / count * 0.7
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" role="img">',
             f"<title>{escape(title)}</title>",
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             _text(WIDTH / 2, 24, title, size=14)]
    # Axes: volume on the left, on-time rate (0-100%) on the right.
    parts.append(f'<line x1="{LEFT}" y1="{_y(0):.1f}" x2="{WIDTH - RIGHT}" y2="{_y(0):.1f}" '
                 f'stroke="{INK}"/>')
    for fraction in (0, 0.5, 1):
        parts.append(_text(LEFT - 6, _y(fraction) + 4, f"{round(most * fraction)}", "end"))
        parts.append(_text(WIDTH - RIGHT + 6, _y(fraction) + 4, f"{fraction:.0%}", "start"))
    parts.append(_text(16, TOP - 14, "opened", "start"))
    parts.append(_text(WIDTH - 16, TOP - 14, "complaints on time", "end"))
    step = max(1, count // 12)  # at most about a dozen date labels
    for i, point in enumerate(points):
        height = (HEIGHT - TOP - BOTTOM) * point.opened / most
        parts.append(f'<rect class="volume" x="{_x(i, count) - width / 2:.1f}" '
                     f'y="{_y(0) - height:.1f}" width="{width:.1f}" height="{height:.1f}" '
                     f'fill="{BAR}"><title>{point.start.strftime("%Y-%m-%d")}: '
                     f"{point.opened} opened</title></rect>")
        if i % step == 0:
            parts.append(_text(_x(i, count), _y(0) + 16, point.start.strftime(label_format)))
    target = ON_TIME.target or 0.0
    parts.append(f'<line class="target" x1="{LEFT}" y1="{_y(target):.1f}" '
                 f'x2="{WIDTH - RIGHT}" y2="{_y(target):.1f}" stroke="{TARGET}" '
                 'stroke-dasharray="6 4"/>')
    parts.append(_text(WIDTH - RIGHT - 4, _y(target) - 6, f"target {target:.0%}", "end"))
    # A bucket with no decided complaint has no rate: the line breaks there, never drops
    # to 0.
    for run in _runs(points):
        coords = " ".join(f"{_x(i, count):.1f},{_y(_rate(points[i])):.1f}" for i in run)
        parts.append(f'<polyline class="on-time" points="{coords}" fill="none" '
                     f'stroke="{LINE}" stroke-width="2"/>')
        for i in run:
            parts.append(f'<circle cx="{_x(i, count):.1f}" '
                         f'cy="{_y(_rate(points[i])):.1f}" r="3" fill="{LINE}">'
                         f"<title>{_said(points[i])}</title></circle>")
    if not points:
        parts.append(_text(WIDTH / 2, HEIGHT / 2, "no data"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _rate(point: TrendPoint) -> float:
    return point.complaints_on_time.rate or 0.0


def _said(point: TrendPoint) -> str:
    """"150 opened, 120 of 140 decided on time": every count in complaints."""
    rate = point.complaints_on_time
    return (f"{point.start:%Y-%m-%d}: {point.opened} opened, {rate.on_time} of "
            f"{rate.decided} decided on time")


def _runs(points: Sequence[TrendPoint]) -> list[list[int]]:
    """Indices of consecutive points that have a rate."""
    runs: list[list[int]] = [[]]
    for i, point in enumerate(points):
        if point.complaints_on_time.rate is None:
            runs.append([])
        else:
            runs[-1].append(i)
    return [run for run in runs if run]
