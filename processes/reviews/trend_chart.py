"""Draw a trend as an SVG chart: volume as bars, the share of complaints on time (of
those decided, counted in complaints, not clocks) as a line, the target, and the mean
CSAT as a second line on the same right-hand axis (1 at its foot, 5 at its top).

Hand-written SVG, so the service needs no plotting library; browsers, the Prefect UI
(as a link) and most chat tools show it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from domain.kpi_definitions import ON_TIME
from processes.reviews.trends import TrendPoint

WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 48, 64
BAR, LINE, TARGET, INK, CSAT = "#9ecae1", "#d94801", "#31a354", "#333333", "#6a51a3"
CSAT_LOW, CSAT_HIGH = 1, 5  # the CSAT scale (domain.satisfaction.SCORES)


@dataclass(frozen=True)
class ChartWords:
    """The chart's texts, in the reader's language (English by default)."""

    opened: str = "opened"
    on_time: str = "complaints on time"
    csat: str = "CSAT"
    target: str = "target {p}%"
    no_data: str = "no data"
    # "150 opened, 120 of 140 decided on time": every count in complaints.
    said: str = "{day}: {opened} opened, {a} of {b} decided on time"
    csat_said: str = "{day}: CSAT {mean} from {n} answers"


def _x(index: int, count: int) -> float:
    plot = WIDTH - LEFT - RIGHT
    return LEFT + plot * (index + 0.5) / count


def _y(fraction: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - fraction)


def _text(x: float, y: float, label: str, anchor: str = "middle", size: int = 11) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{INK}">{escape(label)}</text>')


def render_svg(points: Sequence[TrendPoint], *, title: str, label_format: str = "%m-%d",
               words: ChartWords = ChartWords()) -> str:
    """Draw `points`: bars of complaints opened, a line of the share of complaints on
    time, the target, and a line of the mean CSAT."""
    count = max(len(points), 1)
    most = max([p.opened for p in points] + [1])
    width = (WIDTH - LEFT - RIGHT) / count * 0.7
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" role="img">',
             f"<title>{escape(title)}</title>",
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             _text(WIDTH / 2, 24, title, size=14)]
    # Axes: volume on the left; on the right, the on-time rate (0-100%) and CSAT (1-5).
    parts.append(f'<line x1="{LEFT}" y1="{_y(0):.1f}" x2="{WIDTH - RIGHT}" y2="{_y(0):.1f}" '
                 f'stroke="{INK}"/>')
    for fraction in (0, 0.5, 1):
        csat = CSAT_LOW + (CSAT_HIGH - CSAT_LOW) * fraction
        parts.append(_text(LEFT - 6, _y(fraction) + 4, f"{round(most * fraction)}", "end"))
        parts.append(_text(WIDTH - RIGHT + 6, _y(fraction) + 4, f"{fraction:.0%} · {csat:g}",
                           "start"))
    parts.append(_text(16, TOP - 14, words.opened, "start"))
    parts.append(_text(WIDTH - 16, TOP - 14, f"{words.on_time} · {words.csat}", "end"))
    step = max(1, count // 12)  # at most about a dozen date labels
    for i, point in enumerate(points):
        height = (HEIGHT - TOP - BOTTOM) * point.opened / most
        parts.append(f'<rect class="volume" x="{_x(i, count) - width / 2:.1f}" '
                     f'y="{_y(0) - height:.1f}" width="{width:.1f}" height="{height:.1f}" '
                     f'fill="{BAR}"><title>{point.start.strftime("%Y-%m-%d")}: '
                     f"{point.opened} {escape(words.opened)}</title></rect>")
        if i % step == 0:
            parts.append(_text(_x(i, count), _y(0) + 16, point.start.strftime(label_format)))
    target = ON_TIME.target or 0.0
    parts.append(f'<line class="target" x1="{LEFT}" y1="{_y(target):.1f}" '
                 f'x2="{WIDTH - RIGHT}" y2="{_y(target):.1f}" stroke="{TARGET}" '
                 'stroke-dasharray="6 4"/>')
    parts.append(_text(WIDTH - RIGHT - 4, _y(target) - 6,
                       words.target.format(p=f"{target * 100:.0f}"), "end"))
    parts += _line(points, "on-time", LINE, _rate, lambda p: words.said.format(
        day=f"{p.start:%Y-%m-%d}", opened=p.opened, a=p.complaints_on_time.on_time,
        b=p.complaints_on_time.decided))
    parts += _line(points, "csat", CSAT, _csat, lambda p: words.csat_said.format(
        day=f"{p.start:%Y-%m-%d}", mean=f"{p.csat.value or 0:.2f}", n=p.csat.count))
    if not points:
        parts.append(_text(WIDTH / 2, HEIGHT / 2, words.no_data))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _line(points: Sequence[TrendPoint], name: str, colour: str,
          value: Callable[[TrendPoint], float | None], said: Callable[[TrendPoint], str]
          ) -> list[str]:
    """A line through the points that have a value, each point titled with what it says.
    A bucket without a value breaks the line there, never drops it to 0."""
    count = max(len(points), 1)
    parts = []
    for run in _runs([value(p) is not None for p in points]):
        coords = " ".join(f"{_x(i, count):.1f},{_y(value(points[i]) or 0.0):.1f}" for i in run)
        parts.append(f'<polyline class="{name}" points="{coords}" fill="none" '
                     f'stroke="{colour}" stroke-width="2"/>')
        for i in run:
            parts.append(f'<circle cx="{_x(i, count):.1f}" '
                         f'cy="{_y(value(points[i]) or 0.0):.1f}" r="3" fill="{colour}">'
                         f"<title>{escape(said(points[i]))}</title></circle>")
    return parts


def _rate(point: TrendPoint) -> float | None:
    return point.complaints_on_time.rate


def _csat(point: TrendPoint) -> float | None:
    """The mean CSAT as a height on the chart's 0-1 scale (1 at the foot, 5 at the top)."""
    mean = point.csat.value
    return None if mean is None else (mean - CSAT_LOW) / (CSAT_HIGH - CSAT_LOW)


def _runs(present: Sequence[bool]) -> list[list[int]]:
    """Indices of consecutive points that have a value."""
    runs: list[list[int]] = [[]]
    for i, has_value in enumerate(present):
        if has_value:
            runs[-1].append(i)
        else:
            runs.append([])
    return [run for run in runs if run]
