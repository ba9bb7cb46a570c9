"""A PNG of each sent round's delivery, bounce, open and click rates, side by side.

Rendered with matplotlib's Agg canvas on a Figure of its own (no pyplot, no display, no
global figure state). Renders are serialised by a lock (matplotlib's rcParams and font cache
are process-wide), so it may be called from worker threads (asyncio.to_thread). Same input,
same bytes: fixed size, fonts and metadata. A rate without data (denominator 0, or no counts) gets no bar; it is
never drawn as 0%.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from bot.rates import RATE_LABELS, Counts, Rates

CHART_RATES: tuple[str, ...] = ("delivery", "bounce", "open", "click")
COLOURS = {"delivery": "#2e7d32", "bounce": "#c62828", "open": "#1565c0", "click": "#f9a825"}
FIGSIZE = (8.0, 4.5)
DPI = 100
_LOCK = threading.RLock()
RC = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 11,
    "path.simplify": True,
}


@dataclass(frozen=True)
class Bar:
    round_number: int
    rate: str
    percent: float   # exact rate x 100
    shown: str       # "75.1%"


def chart_bars(rounds: Sequence[tuple[int, Counts | None]]) -> list[Bar]:
    """The bars the chart draws: one per (round, rate) that has data, rounds in order."""
    bars = []
    for number, counts in sorted(rounds, key=lambda item: item[0]):
        if counts is None:
            continue
        rates = Rates.of(counts)
        for name in CHART_RATES:
            rate = rates[name]
            if rate.percent is not None:
                bars.append(Bar(number, name, rate.percent, rate.shown))
    return bars


def build_rates_figure(rounds: Sequence[tuple[int, Counts | None]], title: str,
                       labels: Mapping[int, str] | None = None) -> Figure:
    """The chart as a matplotlib Figure (on an Agg canvas)."""
    with _LOCK:
        return _build(rounds, title, labels)


def _build(rounds: Sequence[tuple[int, Counts | None]], title: str, labels: Mapping[int, str] | None = None) -> Figure:
    ordered = sorted(rounds, key=lambda item: item[0])
    numbers = [number for number, _ in ordered]
    bars = chart_bars(ordered)
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.set_title(title, parse_math=False)
        axes.set_ylabel("rate", parse_math=False)
        axes.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
        axes.set_ylim(0, 110)
        axes.set_axisbelow(True)
        axes.grid(axis="y", color="#dddddd", linewidth=0.6)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)

        width = 0.8 / len(CHART_RATES)
        position = {number: index for index, number in enumerate(numbers)}
        for slot, name in enumerate(CHART_RATES):
            mine = [bar for bar in bars if bar.rate == name]
            if not mine:
                continue
            offset = (slot - (len(CHART_RATES) - 1) / 2) * width
            xs = [position[bar.round_number] + offset for bar in mine]
            container = axes.bar(xs, [bar.percent for bar in mine], width=width * 0.95,
                                 color=COLOURS[name], label=f"{RATE_LABELS[name]} rate")
            axes.bar_label(container, labels=[bar.shown for bar in mine], padding=2, fontsize=7,
                           rotation=90 if len(numbers) > 3 else 0)

        with_data = {bar.round_number for bar in bars}
        axes.set_xticks(range(len(numbers)))
        names = {n: (labels or {}).get(n, f"Round {n}") for n in numbers}  # the weekly summary names its rounds
        axes.set_xticklabels([names[n] if n in with_data else f"{names[n]}\n(no data)" for n in numbers])
        if not numbers:
            axes.set_xticks([])
            axes.text(0.5, 0.5, "No sent rounds", transform=axes.transAxes, ha="center", va="center",
                      parse_math=False)
        axes.set_xlim(-0.6, max(len(numbers), 1) - 0.4)
        handles = [Patch(color=COLOURS[name], label=f"{RATE_LABELS[name]} rate") for name in CHART_RATES]
        axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(CHART_RATES),
                    frameon=False)
        figure.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.22)
    return figure


def render_rates_chart(rounds: list[tuple[int, Counts]], title: str, labels: Mapping[int, str] | None = None) -> bytes:
    """PNG bytes of grouped bars (delivery, bounce, open, click) per sent round; `labels` names
    the x positions (default "Round n")."""
    buffer = io.BytesIO()
    with _LOCK:
        figure = _build(rounds, title, labels)
        with matplotlib.rc_context(RC):
            figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()
