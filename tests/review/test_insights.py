"""The insights page: each plot's numbers equal a direct query of what Rasa stored.

The database is filled by real conversations through the running assistant
(`conftest.py`). The page's tables (the numbers beside each plot) are read as a
reader would; the expected numbers come straight from Rasa's `events` table and
the booking requests, not from the summary tables the page reads.
"""

import json
import xml.etree.ElementTree as ElementTree
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from typing import Dict, List, Set

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant import settings
from review.topics import load_topics
from review.unsure import answered_but_unsure
from tests.review.conftest import Conversations
from tests.review.servers import ReviewClient

UNANSWERED = ("nlu_fallback", "out_of_scope")
PLOTS = ("activity", "outcomes", "topics", "bookings", "crisis")


class Tables(HTMLParser):
    """The page's tables by id: each row the texts of its cells, header cells included."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: Dict[str, List[List[str]]] = {}
        self._table: str | None = None
        self._row: List[str] | None = None
        self._cell: List[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_tables(client: ReviewClient, query: str = "") -> Dict[str, List[List[str]]]:
    response = client.get(f"/insights{query}")
    assert response.status_code == 200, response.text
    parser = Tables()
    parser.feed(response.text)
    return parser.tables


def week_index(timestamp: float, first_monday: date) -> int:
    return (datetime.fromtimestamp(timestamp).date() - first_monday).days // 7


def default_weeks() -> List[date]:
    today = date.today()
    this_monday = today - timedelta(days=today.weekday())
    return [this_monday - timedelta(weeks=11 - i) for i in range(12)]


def stored(database: Engine) -> dict:
    """What Rasa stored, read directly: visitor messages, conversation starts, crisis slots, bookings."""
    with database.connect() as connection:
        users = connection.execute(
            sa.text("SELECT id, sender_id, timestamp, intent_name, data FROM events WHERE type_name = 'user' ORDER BY id")
        ).all()
        starts = dict(connection.execute(sa.text("SELECT sender_id, MIN(timestamp) FROM events GROUP BY sender_id")).all())
        crisis_slots = {
            row.sender_id
            for row in connection.execute(
                sa.text("SELECT sender_id, data FROM events WHERE type_name = 'slot' AND action_name = 'crisis_flag'")
            )
            if json.loads(row.data).get("value") is True
        }
        requests = connection.execute(sa.text("SELECT conversation_id, status FROM booking_requests")).all()
    return {"users": users, "starts": starts, "crisis_slots": crisis_slots, "requests": requests}


@pytest.fixture
def facts(therapist: ReviewClient, database: Engine, conversations: Conversations) -> dict:
    """The page's tables and the direct query's facts, read one right after the other."""
    tables = page_tables(therapist)
    return {"tables": tables, **stored(database)}


def first_channel(users: list) -> Dict[str, str]:
    channels: Dict[str, str] = {}
    for row in users:
        channels.setdefault(row.sender_id, json.loads(row.data).get("input_channel") or "unknown")
    return channels


def test_conversations_and_visitor_messages_per_week_by_channel_match_the_events(facts: dict) -> None:
    weeks = default_weeks()
    channels = first_channel(facts["users"])
    conversations: Dict[str, Counter] = defaultdict(Counter)
    for sender, started in facts["starts"].items():
        conversations[channels.get(sender, "unknown")][week_index(started, weeks[0])] += 1
    messages: Dict[str, Counter] = defaultdict(Counter)
    for row in facts["users"]:
        messages[json.loads(row.data).get("input_channel") or "unknown"][week_index(row.timestamp, weeks[0])] += 1

    groups, header, *rows = facts["tables"]["numbers-activity"]
    assert groups == ["", "Conversations", "Visitor messages"]
    names = sorted(set(conversations) | set(messages))
    assert header == ["Week of", *names, "Total", *names, "Total"]
    assert [row[0] for row in rows] == [week.isoformat() for week in weeks]
    for index, row in enumerate(rows):
        by_conversation = [conversations[name][index] for name in names]
        by_message = [messages[name][index] for name in names]
        assert [int(cell) for cell in row[1:]] == [*by_conversation, sum(by_conversation), *by_message, sum(by_message)]
    assert sum(int(row[len(names) + 1]) for row in rows) == len(facts["starts"]) > 0


def test_the_share_answered_unsure_and_unanswered_matches_the_events(facts: dict) -> None:
    weeks = default_weeks()
    counts: Dict[str, Counter] = defaultdict(Counter)
    for row in facts["users"]:
        data = json.loads(row.data)
        if row.intent_name in UNANSWERED:
            outcome = "unanswered"
        elif answered_but_unsure(str(data.get("text") or ""), data.get("parse_data") or {}):
            outcome = "unsure"
        else:
            outcome = "answered"
        counts[outcome][week_index(row.timestamp, weeks[0])] += 1

    header, *rows, whole = facts["tables"]["numbers-outcomes"]
    assert header == ["Week of", "Answered", "Answered, unsure", "Unanswered", "Total"]
    for index, row in enumerate(rows):
        numbers = [int(cell.split()[0]) for cell in row[1:]]
        expected = [counts[outcome][index] for outcome in ("answered", "unsure", "unanswered")]
        assert numbers == [*expected, sum(expected)]
    assert int(whole[3].split()[0]) == sum(counts["unanswered"].values()) > 0
    shares = [int(cell.split("(")[1].rstrip("%)")) for cell in whole[1:4]]
    assert 99 <= sum(shares) <= 101


def test_the_top_topics_match_the_faq_answers_in_the_events(facts: dict) -> None:
    titles = load_topics(settings.domain_files())
    asked = Counter()
    for row in facts["users"]:
        if row.intent_name == "faq":
            intent = json.loads(row.data)["parse_data"]["intent"]
            asked[intent.get("full_retrieval_intent_name")] += 1
    expected = sorted(asked.items(), key=lambda item: (-item[1], item[0]))[:10]

    _header, *rows = facts["tables"]["numbers-topics"]
    assert [(row[0], int(row[1])) for row in rows] == [(titles.title(label), count) for label, count in expected]
    assert len(rows) > 0 and all("/" not in row[0] for row in rows)


def test_the_booking_funnel_and_statuses_match_the_events_and_requests(facts: dict) -> None:
    senders: Set[str] = set(facts["starts"])
    asked = {row.sender_id for row in facts["users"] if row.intent_name == "book_consultation"}
    requests = [row for row in facts["requests"] if row.conversation_id in senders]
    statuses = Counter(row.status for row in requests)

    _header, *steps = facts["tables"]["numbers-funnel"]
    assert [(row[0], int(row[1])) for row in steps] == [
        ("Conversations", len(senders)),
        ("Asked to book", len(asked)),
        ("Sent a booking request", len({row.conversation_id for row in requests})),
    ]
    _header, *by_status = facts["tables"]["numbers-booking-status"]
    assert {row[0]: int(row[1]) for row in by_status} == {s: statuses[s] for s in ("new", "contacted", "closed")}
    assert len(requests) > 0


def test_crisis_flags_per_week_match_the_events(facts: dict) -> None:
    weeks = default_weeks()
    flagged = set(facts["crisis_slots"])
    for row in facts["users"]:
        parse_data = json.loads(row.data).get("parse_data") or {}
        if row.intent_name == "crisis" or "safety_net" in parse_data:
            flagged.add(row.sender_id)
    per_week = Counter(week_index(facts["starts"][sender], weeks[0]) for sender in flagged)

    _header, *rows = facts["tables"]["numbers-crisis"]
    assert [(row[0], int(row[1])) for row in rows] == [(w.isoformat(), per_week[i]) for i, w in enumerate(weeks)]
    assert sum(per_week.values()) > 0


def test_a_period_without_conversations_shows_zeros(therapist: ReviewClient) -> None:
    tables = page_tables(therapist, "?from=2001-01-01&to=2001-01-31")

    assert [row[0] for row in tables["numbers-crisis"][1:]][0] == "2001-01-01"
    assert {row[1] for row in tables["numbers-crisis"][1:]} == {"0"}
    assert tables["numbers-topics"][1] == ["No questions answered in this period."]


@pytest.mark.parametrize("query", ["?from=2026-02-01&to=2026-01-01", "?from=2001-01-01&to=2026-01-01", "?from=yesterday"])
def test_a_period_that_cannot_be_shown_is_refused_with_a_reason(therapist: ReviewClient, query: str) -> None:
    for path in ("/insights", "/insights/crisis.svg"):
        response = therapist.get(path + query)
        assert response.status_code == 400
        assert "That period cannot be shown" in response.text


@pytest.mark.parametrize("plot", PLOTS)
def test_each_plot_is_an_svg_image_drawn_by_the_app_with_no_script(
    therapist: ReviewClient, conversations: Conversations, plot: str
) -> None:
    response = therapist.get(f"/insights/{plot}.svg")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert "script" not in response.headers["Content-Security-Policy"]
    root = ElementTree.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"<script" not in response.content


def test_an_unknown_plot_is_not_found(therapist: ReviewClient) -> None:
    assert therapist.get("/insights/nothing.svg").status_code == 404
    assert therapist.get("/insights/crisis.png").status_code == 404


def test_the_insights_need_the_therapist_signed_in(stranger: ReviewClient) -> None:
    for path in ("/insights", "/insights/crisis.svg"):
        response = stranger.get(path)
        assert response.status_code == 303 and "/sign-in" in response.headers["Location"]
