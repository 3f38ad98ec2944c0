"""`/insights`: plots of the assistant's use over a chosen period, each with its numbers.

The page holds the numbers as tables and links each plot as an SVG image drawn
by the app (`/insights/<plot>.svg`, same period); the CSP allows images from the
app and no script. The page always counts afresh and keeps what it counted for a
short while, so the five images it links, which the browser asks for right
after it, are drawn from those numbers instead of counting everything again.
They are kept only while the summaries stay as they were: any new message or
deletion makes the next request count again.
"""

import threading
import time
from collections import OrderedDict
from datetime import date
from typing import Any, Callable, Dict, Tuple

import sqlalchemy as sa
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from review import plots
from review.insights import Insights, Period, insights_of
from review.parameters import optional_date
from review.queries import InvalidQuery
from review.summaries import high_water_mark
from review.tables import conversation_summaries
from review.topics import Topics, load_topics
from review.understanding import OUTCOMES
from review.web import error_page, in_thread, refresh, render

bp = Blueprint("insights")

# An SVG shown as an image runs no script; its own styles (matplotlib's) may apply.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
OUTCOME_LABELS = {"answered": "Answered", "unsure": "Answered, unsure", "unanswered": "Unanswered"}
KEEP_SECONDS = 120
KEEP_PERIODS = 8

Version = Tuple[int, int]


class RecentInsights:
    """The numbers of the last few periods counted, with the state of the summaries they came from."""

    def __init__(self) -> None:
        """Empty; the app makes one on first use."""
        self._entries: OrderedDict[Tuple[Period, Version], Tuple[float, Insights]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, period: Period, version: Version) -> Insights | None:
        """The numbers counted for this period from these summaries, if recent."""
        with self._lock:
            entry = self._entries.get((period, version))
        if entry is None or time.monotonic() - entry[0] > KEEP_SECONDS:
            return None
        return entry[1]

    def put(self, period: Period, version: Version, found: Insights) -> None:
        """Keeps the numbers, forgetting the oldest beyond `KEEP_PERIODS`."""
        with self._lock:
            self._entries[(period, version)] = (time.monotonic(), found)
            self._entries.move_to_end((period, version))
            while len(self._entries) > KEEP_PERIODS:
                self._entries.popitem(last=False)


def summaries_version(connection: Any) -> Version:
    """What changes when the summaries do: the last event folded in, and how many conversations remain."""
    count = connection.execute(sa.select(sa.func.count()).select_from(conversation_summaries)).scalar()
    return high_water_mark(connection), int(count or 0)


def recent(request: Request) -> RecentInsights:
    """The app's store of recently counted periods."""
    if not hasattr(request.app.ctx, "recent_insights"):
        request.app.ctx.recent_insights = RecentInsights()
    return request.app.ctx.recent_insights


def period_from(request: Request, today: date | None = None) -> Period:
    """The period of the query string; by default the last twelve weeks up to today."""
    first = optional_date(request.args.get("from"))
    last = optional_date(request.args.get("to")) or today or date.today()
    if first is None:
        return Period.ending(last)
    return Period(first, last)


def _count(engine: Any, period: Period, store: RecentInsights) -> Insights:
    with engine.connect() as connection:
        version = summaries_version(connection)
        found = insights_of(connection, period)
    store.put(period, version, found)
    return found


def _recent_or_count(engine: Any, period: Period, store: RecentInsights) -> Insights:
    with engine.connect() as connection:
        found = store.get(period, summaries_version(connection))
    return found if found is not None else _count(engine, period, store)


@bp.get("/insights")
async def insights_page(request: Request) -> HTTPResponse:
    """The plots of the period with their numbers in tables."""
    try:
        period = period_from(request)
    except InvalidQuery as problem:
        return error_page(request, 400, f"That period cannot be shown: {problem}.")
    await refresh(request)
    topics = load_topics(request.app.ctx.config.domain_files)
    found = await in_thread(_count, request.app.ctx.engine, period, recent(request))
    return render(
        request,
        "insights.html",
        period=period,
        period_query={"from": period.first.isoformat(), "to": period.last.isoformat()},
        outcome_labels=OUTCOME_LABELS,
        outcome_names=OUTCOMES,
        conversations=found.conversations,
        messages=found.messages,
        outcomes=found.outcomes,
        topics=[(topics.title(label), count) for label, count in found.topics],
        funnel=found.funnel,
        crisis=found.crisis,
    )


PLOTS: Dict[str, Callable[[Insights, Topics], bytes]] = {
    "activity": lambda found, _topics: plots.activity(found.conversations, found.messages),
    "outcomes": lambda found, _topics: plots.outcomes(found.outcomes),
    "topics": lambda found, topics: plots.top_topics([(topics.title(label), n) for label, n in found.topics]),
    "bookings": lambda found, _topics: plots.bookings(found.funnel),
    "crisis": lambda found, _topics: plots.crisis(found.crisis),
}


def _draw(engine: Any, name: str, period: Period, topics: Topics, store: RecentInsights) -> bytes:
    return PLOTS[name](_recent_or_count(engine, period, store), topics)


@bp.get("/insights/<file_name:str>")
async def plot(request: Request, file_name: str) -> HTTPResponse:
    """One plot of the period, as an SVG image (`<plot>.svg`)."""
    name, _dot, extension = file_name.partition(".")
    if extension != "svg" or name not in PLOTS:
        return error_page(request, 404, "There is no such plot.")
    try:
        period = period_from(request)
    except InvalidQuery as problem:
        return error_page(request, 400, f"That period cannot be shown: {problem}.")
    topics = load_topics(request.app.ctx.config.domain_files)
    image = await in_thread(_draw, request.app.ctx.engine, name, period, topics, recent(request))
    return raw(image, content_type="image/svg+xml", headers={"Content-Security-Policy": SVG_POLICY})
