"""Server-rendered SVG charts for the Painel: geometry here, markup in
templates/dashboard/_chart.html. No JavaScript: the chart is an image drawn by the
server, described in words (``aria-label``) and always followed by its table.

Two kinds: columns over time (``colunas``) and horizontal bars per category
(``barras``, each label written above its bar so long órgão names fit a phone).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

WIDTH = 640
COLUMNS_HEIGHT = 220
_AXIS_LEFT = 40  # room for the scale's labels
_AXIS_BOTTOM = 28  # room for the dates
_TOP = 12
BAR_ROW = 44  # a label line and its bar
BARS_MAX = 12  # categories drawn; the table has every one


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    label: str
    short: str  # what is written under a column: "27/11"
    value: float
    value_text: str
    label_x: float
    label_y: float
    value_x: float
    value_y: float
    show_label: bool


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    kind: str
    width: int
    height: int
    rects: list[Rect]
    ticks: list[Tick]
    baseline: float
    left: float
    truncated: int  # categories not drawn (in the table only)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}".replace(".", ",")


def _short(label: str) -> str:
    found = re.search(r"\d{2}/\d{2}", label)
    return found.group(0) if found else label[:8]


def _nice_max(peak: float) -> float:
    """A round top for the scale: 1, 2, 5 × a power of ten, at or above the peak."""
    if peak <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(peak))
    for step in (1, 2, 5, 10):
        if step * power >= peak:
            return float(step * power)
    return float(10 * power)


def columns(points: list[tuple[str, float]]) -> Chart:
    top = _nice_max(max((v for _label, v in points), default=0))
    plot_w = WIDTH - _AXIS_LEFT - 8
    plot_h = COLUMNS_HEIGHT - _TOP - _AXIS_BOTTOM
    baseline = _TOP + plot_h
    slot = plot_w / max(1, len(points))
    bar_w = max(2.0, slot * 0.7)
    # About eight date labels, whatever the period's length.
    every = max(1, math.ceil(len(points) / 8))
    rects = []
    for i, (label, value) in enumerate(points):
        height = plot_h * value / top
        x = _AXIS_LEFT + i * slot + (slot - bar_w) / 2
        rects.append(
            Rect(
                x=round(x, 1),
                y=round(baseline - height, 1),
                width=round(bar_w, 1),
                height=round(height, 1),
                label=label,
                short=_short(label),
                value=value,
                value_text=_number(value),
                label_x=round(x + bar_w / 2, 1),
                label_y=COLUMNS_HEIGHT - 8,
                value_x=round(x + bar_w / 2, 1),
                value_y=round(baseline - height - 3, 1),
                show_label=i % every == 0,
            )
        )
    ticks = [Tick(round(baseline - plot_h * f, 1), _number(top * f)) for f in (0, 0.5, 1)]
    return Chart("colunas", WIDTH, COLUMNS_HEIGHT, rects, ticks, baseline, _AXIS_LEFT, 0)


def bars(points: list[tuple[str, float]]) -> Chart:
    shown = points[:BARS_MAX]
    top = max((v for _label, v in shown), default=0) or 1
    plot_w = WIDTH - 60  # room for the value after the longest bar
    rects = []
    for i, (label, value) in enumerate(shown):
        y = i * BAR_ROW
        width = plot_w * value / top
        rects.append(
            Rect(
                x=0,
                y=y + 20,
                width=round(max(width, 1.0 if value else 0.0), 1),
                height=18,
                label=label if len(label) <= 90 else label[:89] + "…",
                short=label,
                value=value,
                value_text=_number(value),
                label_x=0,
                label_y=y + 15,
                value_x=round(width + 6, 1),
                value_y=y + 34,
                show_label=True,
            )
        )
    height = max(1, len(shown)) * BAR_ROW
    return Chart("barras", WIDTH, height, rects, [], height, 0, len(points) - len(shown))


def chart_for(kind: str, points: list[tuple[str, float]]) -> Chart | None:
    if kind == "colunas":
        return columns(points)
    if kind == "barras" and points:
        return bars(points)
    return None
