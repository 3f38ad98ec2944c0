"""The numbers of the insights page: aggregate SQL over the summary tables, by week.

Every figure comes from a GROUP BY over `conversation_summaries` or
`visitor_messages` (folded in by `review.summaries`), each read through a
covering index (`review.tables`), never from `events`: at 100,000 conversations
the whole page costs five queries. Weeks start on Monday at midnight in the
server's time zone, where the therapist reads her dates; a conversation counts in
the week it started, a message in the week it was sent. The first and last week
of a period may be partial: only the chosen days are counted.

The database groups by hour since the period's first Monday (plain arithmetic,
the same on SQLite and PostgreSQL) and Python gives each hour its calendar week,
so a daylight-saving change moves the weeks' boundaries as the calendar does.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Dict, List, Tuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assistant.database import BOOKING_STATUSES, booking_requests
from review.constants import BOOKING_INTENT
from review.queries import InvalidQuery
from review.tables import conversation_summaries, visitor_messages
from review.understanding import OUTCOMES

DEFAULT_WEEKS = 12
MAX_WEEKS = 106
TOP_TOPICS = 10
FAQ_PREFIX = "faq/"
UNKNOWN_CHANNEL = "unknown"
FUNNEL_STEPS = ("Conversations", "Asked to book", "Sent a booking request")
SECONDS_AN_HOUR = 3600


@dataclass(frozen=True)
class Period:
    """The chosen days, both included, and the weeks they fall in."""

    first: date
    last: date

    def __post_init__(self) -> None:
        """Refuses a period that ends before it starts, or one too long to plot by week."""
        if self.last < self.first:
            raise InvalidQuery("the period ends before it starts")
        if len(self.week_starts()) > MAX_WEEKS:
            raise InvalidQuery(f"the period is longer than {MAX_WEEKS} weeks; choose a shorter one")

    @classmethod
    def ending(cls, last: date, weeks: int = DEFAULT_WEEKS) -> "Period":
        """The `weeks` whole weeks up to and including `last`'s week (the page's default)."""
        monday = last - timedelta(days=last.weekday())
        return cls(monday - timedelta(weeks=weeks - 1), last)

    def week_starts(self) -> List[date]:
        """The Monday of every week the period touches."""
        monday = self.first - timedelta(days=self.first.weekday())
        return [monday + timedelta(weeks=i) for i in range((self.last - monday).days // 7 + 1)]

    @property
    def origin(self) -> float:
        """Midnight starting the first week (epoch seconds): hours are counted from here."""
        return local_midnight(self.week_starts()[0])

    @property
    def start(self) -> float:
        """The first moment of the period (epoch seconds)."""
        return local_midnight(self.first)

    @property
    def end(self) -> float:
        """The first moment after the period."""
        return local_midnight(self.last + timedelta(days=1))


def week_of_hour(hour: int, origin: float, first_monday: date) -> int:
    """The index of the week in which the `hour`-th hour since `origin` (that Monday's midnight) falls."""
    middle = datetime.fromtimestamp(origin + (hour + 0.5) * SECONDS_AN_HOUR)
    return (middle.date() - first_monday).days // 7


def local_midnight(day: date) -> float:
    """Midnight starting `day` in the server's time zone, in epoch seconds."""
    return datetime.combine(day, clock_time.min).astimezone().timestamp()


def hours_since(column: sa.sql.ColumnElement, origin: float, dialect: str) -> sa.sql.ColumnElement:
    """Whole hours from `origin` to a time (never negative here: rows start at the period).

    The origin is written into the SQL as a number, not a bound parameter: GROUP BY
    repeats the expression, and PostgreSQL takes two expressions with different
    parameters for different columns. SQLite's CAST truncates; PostgreSQL's rounds,
    so it floors first.
    """
    hours = (column - sa.literal_column(repr(float(origin)))) / sa.literal_column(f"{SECONDS_AN_HOUR}.0")
    if dialect == "postgresql":
        hours = sa.func.floor(hours)
    return sa.cast(hours, sa.Integer)


@dataclass
class WeeklySeries:
    """Counts per week, split into series (channels, outcomes), with the weeks' Mondays."""

    weeks: List[date]
    series: Dict[str, List[int]] = field(default_factory=dict)

    def add(self, name: str, week: int, count: int) -> None:
        """Adds a count to a series' week."""
        self.series.setdefault(name, [0] * len(self.weeks))[week] += int(count)

    def totals(self) -> List[int]:
        """The sum of every series, week by week."""
        return [sum(values[i] for values in self.series.values()) for i in range(len(self.weeks))]

    @property
    def total(self) -> int:
        """Everything counted in the period."""
        return sum(self.totals())


@dataclass(frozen=True)
class BookingFunnel:
    """From first message to booking, for the conversations started in the period."""

    steps: List[Tuple[str, int]]
    statuses: List[Tuple[str, int]]


@dataclass(frozen=True)
class Insights:
    """Everything the page shows for one period."""

    period: Period
    conversations: WeeklySeries
    messages: WeeklySeries
    outcomes: WeeklySeries
    crisis: WeeklySeries
    topics: List[Tuple[str, int]]
    funnel: BookingFunnel


def insights_of(connection: Connection, period: Period) -> Insights:
    """The period's numbers, in five aggregate queries."""
    conversations, crisis, started, booked = _conversation_counts(connection, period)
    messages, outcomes = _message_counts(connection, period)
    funnel = BookingFunnel(
        list(zip(FUNNEL_STEPS, (started, _asked_to_book(connection, period), booked))),
        _request_statuses(connection, period),
    )
    return Insights(period, conversations, messages, outcomes, crisis, top_topics(connection, period), funnel)


def _summaries_in(period: Period) -> sa.sql.ColumnElement:
    started_at = conversation_summaries.c.started_at
    return sa.and_(started_at >= period.start, started_at < period.end)


def _weekly_rows(connection: Connection, period: Period, query: sa.sql.Select) -> List[Tuple[int, tuple]]:
    """Runs a query grouped by hour (its first column) and gives each row its week instead."""
    origin, first_monday = period.origin, period.week_starts()[0]
    weeks: Dict[int, int] = {}
    rows = []
    for hour, *rest in connection.execute(query):
        week = weeks.get(hour)
        if week is None:
            week = weeks[hour] = week_of_hour(int(hour), origin, first_monday)
        rows.append((week, tuple(rest)))
    return rows


def _conversation_counts(connection: Connection, period: Period) -> Tuple[WeeklySeries, WeeklySeries, int, int]:
    """Conversations by week and channel, crisis flags by week, and the period's totals for the funnel."""
    table = conversation_summaries
    hour = hours_since(table.c.started_at, period.origin, connection.dialect.name).label("hour")
    channel = sa.func.coalesce(table.c.channel, UNKNOWN_CHANNEL).label("channel")
    query = (
        sa.select(
            hour,
            channel,
            sa.func.count(),
            sa.func.sum(sa.case((table.c.crisis, 1), else_=0)),
            sa.func.sum(sa.case((table.c.booking, 1), else_=0)),
        )
        .where(_summaries_in(period))
        .group_by(hour, channel)
    )
    weeks = period.week_starts()
    conversations = WeeklySeries(weeks)
    crisis = WeeklySeries(weeks, {"crisis": [0] * len(weeks)})
    started = booked = 0
    for week, (name, count, crises, bookings) in _weekly_rows(connection, period, query):
        conversations.add(name, week, count)
        crisis.add("crisis", week, crises or 0)
        started += int(count)
        booked += int(bookings or 0)
    return conversations, crisis, started, booked


def _message_counts(connection: Connection, period: Period) -> Tuple[WeeklySeries, WeeklySeries]:
    """Visitor messages by week and channel, and by week and outcome."""
    table = visitor_messages
    hour = hours_since(table.c.timestamp, period.origin, connection.dialect.name).label("hour")
    channel = sa.func.coalesce(table.c.channel, UNKNOWN_CHANNEL).label("channel")
    query = (
        sa.select(hour, channel, table.c.outcome, sa.func.count())
        .where(table.c.timestamp >= period.start, table.c.timestamp < period.end)
        .group_by(hour, channel, table.c.outcome)
    )
    weeks = period.week_starts()
    messages = WeeklySeries(weeks)
    outcomes = WeeklySeries(weeks, {outcome: [0] * len(weeks) for outcome in OUTCOMES})
    for week, (name, outcome, count) in _weekly_rows(connection, period, query):
        messages.add(name, week, count)
        outcomes.add(outcome, week, count)
    return messages, outcomes


def top_topics(connection: Connection, period: Period, limit: int = TOP_TOPICS) -> List[Tuple[str, int]]:
    """The FAQ topics asked most in the period (by messages answered with them), most first."""
    table = visitor_messages
    count = sa.func.count().label("count")
    query = (
        sa.select(table.c.topic, count)
        .where(
            table.c.timestamp >= period.start,
            table.c.timestamp < period.end,
            table.c.topic.like(f"{FAQ_PREFIX}%"),
        )
        .group_by(table.c.topic)
        .order_by(count.desc(), table.c.topic)
        .limit(limit)
    )
    return [(row.topic, int(row.count)) for row in connection.execute(query)]


def _started_in(period: Period) -> sa.sql.Select:
    return sa.select(conversation_summaries.c.conversation_id).where(_summaries_in(period))


def _asked_to_book(connection: Connection, period: Period) -> int:
    """Conversations started in the period with a message answered by starting the booking."""
    table = visitor_messages
    query = sa.select(sa.func.count(sa.distinct(table.c.conversation_id))).where(
        table.c.topic == BOOKING_INTENT, table.c.conversation_id.in_(_started_in(period))
    )
    return int(connection.execute(query).scalar() or 0)


def _request_statuses(connection: Connection, period: Period) -> List[Tuple[str, int]]:
    """The booking requests of conversations started in the period, by status (every status listed)."""
    requests = booking_requests
    query = (
        sa.select(requests.c.status, sa.func.count())
        .where(requests.c.conversation_id.in_(_started_in(period)))
        .group_by(requests.c.status)
    )
    counts: Dict[str, int] = defaultdict(int, {status: 0 for status in BOOKING_STATUSES})
    for status, count in connection.execute(query):
        counts[status] += int(count)
    return list(counts.items())
