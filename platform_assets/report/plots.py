"""Charts drawn by matplotlib into inline SVG: nothing to load, nothing hand-drawn.

Lines and filled areas (one path each) rather than a bar per partition, so a year of daily
partitions stays a few kilobytes per chart. Text stays text (``svg.fonttype: none``): the
page's own font renders it, and it can be searched and read by assistive tools.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date

import matplotlib as mpl
import matplotlib.dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure

STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "platform-report",  # the same facts give the same bytes
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
ROWS_COLOR, BAND_COLOR, BAD_COLOR = "#2563eb", "#93c5fd", "#dc2626"
TOP_REASONS = 6


def _svg(figure: Figure) -> str:
    """No pyplot: a bare Figure has no window or global state, and nothing to close."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog or DOCTYPE


def _days(keys: Sequence[str]) -> list[date]:
    return [date.fromisoformat(k) for k in keys]


def _axes(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(7.5, 2.4))
    axes = figure.subplots()
    axes.set_title(title, loc="left", fontsize=10)
    axes.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=8))
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes.xaxis.get_major_locator()))
    return figure, axes


def volume_chart(
    rows: Mapping[str, int],
    band: Mapping[str, tuple[float, float]],
    failed: Sequence[str],
    min_rows: int,
) -> str:
    """Rows per partition, the band of counts the volume check accepts (its z-score, once
    there is history), its floor ``min_rows``, and the partitions where it failed."""
    with mpl.rc_context(STYLE):
        figure, axes = _axes("Rows per partition, and the range the volume check accepts")
        keys = sorted(rows)
        axes.axhline(min_rows, color=BAD_COLOR, linewidth=0.8, linestyle="--", label="min_rows")
        if band:
            days = sorted(band)
            low, high = zip(*(band[d] for d in days), strict=True)
            axes.fill_between(_days(days), low, high, step="mid", color=BAND_COLOR, alpha=0.5,
                              linewidth=0, label="accepted range")  # fmt: skip
        axes.plot(_days(keys), [rows[k] for k in keys], color=ROWS_COLOR, linewidth=1.4,
                  marker="o" if len(keys) <= 40 else None, markersize=3, label="rows")  # fmt: skip
        bad = [k for k in failed if k in rows]
        if bad:
            axes.plot(_days(bad), [rows[k] for k in bad], linestyle="none", marker="x",
                      color=BAD_COLOR, markersize=7, label="volume check failed")  # fmt: skip
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", fontsize=8, frameon=False, ncols=4)
        return _svg(figure)


def quarantine_chart(counts: Mapping[str, Mapping[str, int]], partitions: Sequence[str]) -> str:
    """Quarantined rows per partition, stacked by reason (the most frequent ones named)."""
    totals: dict[str, int] = {}
    for per_reason in counts.values():
        for reason, n in per_reason.items():
            totals[reason] = totals.get(reason, 0) + n
    named = sorted(totals, key=lambda r: (-totals[r], r))[:TOP_REASONS]
    with mpl.rc_context(STYLE):
        figure, axes = _axes("Quarantined rows per partition, by reason")
        series = [[counts.get(p, {}).get(r, 0) for p in partitions] for r in named]
        other = [sum(n for r, n in counts.get(p, {}).items() if r not in named) for p in partitions]
        labels = list(named)
        if any(other):
            series.append(other)
            labels.append("other reasons")
        axes.stackplot(_days(partitions), series, labels=labels, step="mid", alpha=0.85)
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", fontsize=7, frameon=False, ncols=2)
        return _svg(figure)
