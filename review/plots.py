"""The insights page's plots, drawn on the server as SVG with matplotlib.

The review app's CSP allows no script, so each plot is a finished SVG image
served from the app itself (`img-src 'self'`). Figures are made with
matplotlib's object API on the Agg backend, never with pyplot: pyplot keeps
global state, and the app draws in worker threads. Text stays text in the SVG
(`svg.fonttype: none`), which keeps the files small; the numbers of every plot
are also in the table beside it, for screen readers and for exact values.
"""

import io
import warnings
from datetime import date
from typing import Dict, List, Sequence, Tuple

# matplotlib 3.5 (the newest Rasa 3.6 allows) calls pyparsing 3.3 by its old names.
warnings.filterwarnings("ignore", message=r".* deprecated - use .*", module=r"matplotlib\..*")

import matplotlib  # noqa: E402  (after the warning filter)

matplotlib.use("Agg")

from matplotlib.collections import PolyCollection  # noqa: E402  (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from review.insights import BookingFunnel, WeeklySeries  # noqa: E402

WIDTH_INCHES = 7.5
HEIGHT_INCHES = 3.2
# Colour-blind-safe (Okabe-Ito), in a fixed order so a channel keeps its colour.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OUTCOME_COLOURS = {"answered": "#009E73", "unsure": "#E69F00", "unanswered": "#D55E00"}
CRISIS_COLOUR = "#B42318"
SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "review-insights", "font.size": 9}


BAR_WIDTH = 0.8
# Fixed margins (fractions of the figure), room for rotated week labels and a legend on the right:
# a layout engine measuring every label costs more than drawing the plot.
MARGINS = {"left": 0.1, "right": 0.84, "top": 0.9, "bottom": 0.2}


def _figure(height: float = HEIGHT_INCHES, margins: Dict[str, float] | None = None) -> Figure:
    figure = Figure(figsize=(WIDTH_INCHES, height))
    figure.subplots_adjust(**(margins or MARGINS))
    return figure


def svg_of(figure: Figure) -> bytes:
    """The figure as an SVG document (no date in it: the same numbers give the same file)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    # matplotlib 3.5 quotes the generic family ('sans-serif'), which browsers read as a
    # font of that name and replace with their serif default.
    return buffer.getvalue().replace(b"'sans-serif'", b"sans-serif")


def _week_labels(weeks: Sequence[date]) -> List[str]:
    return [f"{monday:%d %b}" for monday in weeks]


def _empty(axes: object, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="#667085")
    axes.set_axis_off()


def _stacked_weeks(axes: object, data: WeeklySeries, colours: Dict[str, str], ylabel: str) -> None:
    """Bars per week, one colour a series, stacked.

    Each series is one collection of rectangles rather than a patch a bar:
    a year of weeks in three series is then three artists, not 156.
    """
    labels = _week_labels(data.weeks)
    positions = list(range(len(labels)))
    bottom = [0.0] * len(labels)
    handles = []
    for index, (name, values) in enumerate(data.series.items()):
        colour = colours.get(name, PALETTE[index % len(PALETTE)])
        rectangles = [_rectangle(x, b, v) for x, b, v in zip(positions, bottom, values) if v]
        axes.add_collection(PolyCollection(rectangles, facecolors=colour, edgecolors="none"))
        handles.append(Patch(facecolor=colour, label=name))
        bottom = [b + v for b, v in zip(bottom, values)]
    axes.set_xlim(-0.6, len(labels) - 0.4)
    axes.set_ylim(0, max(bottom + [1.0]) * 1.05)
    step = max(1, len(labels) // 12)
    axes.set_xticks(positions[::step])
    axes.set_xticklabels(labels[::step], rotation=45, ha="right")
    axes.set_ylabel(ylabel)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    if handles:
        # Listed top to bottom as they are stacked.
        axes.legend(handles=handles[::-1], frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _rectangle(x: float, bottom: float, height: float) -> List[Tuple[float, float]]:
    left, right = x - BAR_WIDTH / 2, x + BAR_WIDTH / 2
    return [(left, bottom), (right, bottom), (right, bottom + height), (left, bottom + height)]


def activity(conversations: WeeklySeries, messages: WeeklySeries) -> bytes:
    """Conversations and visitor messages per week, stacked by channel."""
    figure = _figure(HEIGHT_INCHES * 1.7, {**MARGINS, "bottom": 0.12, "top": 0.93, "hspace": 0.15})
    top, bottom = figure.subplots(2, 1, sharex=True)
    channels = sorted(set(conversations.series) | set(messages.series))
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(channels)}
    if conversations.total == 0:
        _empty(top, "No conversations in this period")
        _empty(bottom, "")
        return svg_of(figure)
    _stacked_weeks(top, conversations, colours, "Conversations")
    _stacked_weeks(bottom, messages, colours, "Visitor messages")
    top.set_title("Per week, by channel", loc="left")
    return svg_of(figure)


def outcomes(data: WeeklySeries) -> bytes:
    """The share of visitor messages answered, answered unsure and unanswered, per week."""
    figure = _figure()
    axes = figure.subplots()
    totals = data.totals()
    if sum(totals) == 0:
        _empty(axes, "No visitor messages in this period")
        return svg_of(figure)
    shares = WeeklySeries(data.weeks)
    for name, values in data.series.items():
        shares.series[name] = [100.0 * v / t if t else 0.0 for v, t in zip(values, totals)]
    _stacked_weeks(axes, shares, OUTCOME_COLOURS, "% of visitor messages")
    axes.set_ylim(0, 100)
    return svg_of(figure)


def top_topics(rows: Sequence[Tuple[str, int]]) -> bytes:
    """The topics asked most, as horizontal bars, the most asked on top."""
    figure = _figure(margins={**MARGINS, "left": 0.28, "right": 0.95, "bottom": 0.15})
    axes = figure.subplots()
    if not rows:
        _empty(axes, "No questions answered in this period")
        return svg_of(figure)
    titles = [title for title, _count in rows][::-1]
    counts = [count for _title, count in rows][::-1]
    axes.barh(titles, counts, color=PALETTE[0])
    axes.set_xlabel("Visitor messages")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    return svg_of(figure)


def bookings(funnel: BookingFunnel) -> bytes:
    """The funnel from first message to booking request, and where the requests stand."""
    figure = _figure(margins={**MARGINS, "left": 0.27, "right": 0.97, "bottom": 0.12, "wspace": 0.3})
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    if funnel.steps[0][1] == 0:
        _empty(left, "No conversations in this period")
        _empty(right, "")
        return svg_of(figure)
    steps = [name for name, _count in funnel.steps][::-1]
    counts = [count for _name, count in funnel.steps][::-1]
    left.barh(steps, counts, color=PALETTE[0])
    for position, count in enumerate(counts):
        left.annotate(str(count), (count, position), xytext=(3, 0), textcoords="offset points", va="center")
    left.set_title("From first message to booking", loc="left")
    left.xaxis.get_major_locator().set_params(integer=True)
    statuses = [status for status, _count in funnel.statuses]
    right.bar(statuses, [count for _status, count in funnel.statuses], color=PALETTE[2])
    right.set_title("Requests by status", loc="left")
    right.yaxis.get_major_locator().set_params(integer=True)
    for axes in (left, right):
        axes.spines[["top", "right"]].set_visible(False)
    return svg_of(figure)


def crisis(data: WeeklySeries) -> bytes:
    """Conversations flagged as a possible crisis, per week."""
    figure = _figure()
    axes = figure.subplots()
    _stacked_weeks(axes, data, {"crisis": CRISIS_COLOUR}, "Conversations")
    legend = axes.get_legend()
    if legend is not None:
        legend.remove()
    return svg_of(figure)
