"""Benchmark: the therapist's review at 100,000 conversations.

Writes synthetic conversations (events shaped like those Rasa's tracker store
writes, and booking requests) into a temporary database, then measures:

- building the conversation summaries from nothing, and an incremental refresh;
- pages of the real review app (a server on a free loopback port, signed in
  over HTTP): the list's first page, a page 90% of the way down, each flag,
  a channel, a date range, a text search, a transcript and an export;
- the review-state list (what waits for review, each state; a share of the
  conversations is given a state as the therapist would have);
- the insights page over twelve weeks and over the whole year, and each of its
  SVG plots (the page and its five images are also timed one after the other).

A benchmark, not a test: inserting rows by hand is the point here.

    .venv/bin/python -m bench.review_list [--conversations 100000] [--postgres] [--output FILE]
"""

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List
from urllib.parse import quote

import sqlalchemy as sa

from assistant.database import booking_requests, dispose_engine, engine_for
from review.queries import Cursor
from review.summaries import ensure_tables, refresh_summaries
from review.tables import conversation_reviews, conversation_summaries, events, rasa_metadata
from tests.review.servers import signed_in_client, start_review_app, stop_review_app

RESULTS = Path(__file__).parent / "results" / "review_list.json"
PASSWORD = "a long benchmark password"
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
VISITOR_MESSAGES = [
    "is ketamine safe?", "how much does a session cost", "do you take insurance", "what is IFS therapy",
    "how long is a ketamine session", "can I do this online", "where is the office", "hello", "thanks",
    "can I take it with my sertraline?", "blorf zzz", "what's the weather", "I'd like to book the free call",
    "will I lose control", "who prescribes the ketamine", "I want to kill myself",
]
INTENTS = {
    "can I take it with my sertraline?": "medical_question", "blorf zzz": "nlu_fallback",
    "what's the weather": "out_of_scope", "I want to kill myself": "crisis", "hello": "greet",
    "thanks": "thank", "I'd like to book the free call": "book_consultation",
}
CHANNELS = ["rest"] * 5 + ["socketio"] * 4 + ["facebook"]
FAQ_TOPICS = {
    "is ketamine safe?": "safety", "how much does a session cost": "cost", "do you take insurance": "insurance",
    "what is IFS therapy": "what_is_ifs", "how long is a ketamine session": "session_length",
    "can I do this online": "location", "where is the office": "location", "will I lose control": "loss_of_control",
    "who prescribes the ketamine": "prescriber",
}
RUNNER_UP_TOPICS = ["experience", "treatment_process", "who_is_it_for", "cost", "safety"]
# Review states as a therapist would leave them (the rest stay new): most read, some done, a few to follow up.
REVIEW_STATE_SHARES = (("read", 0.55), ("done", 0.2), ("follow_up", 0.02))
INSIGHT_PLOTS = ("activity", "outcomes", "topics", "bookings", "crisis")
# Unanswered messages vary in real life; these make thousands of distinct ones.
ODD_WORDS = ["parking", "dogs", "weather", "pricing", "medicare", "weekend", "spanish", "refund", "zoom", "blorf"]


def synthetic_conversation(rng: random.Random, conversation_id: str, started: float) -> List[Dict[str, Any]]:
    """The events of one made-up conversation, as Rasa stores them."""
    rows: List[Dict[str, Any]] = []
    clock = started

    def add(type_name: str, data: Dict[str, Any], intent: str | None = None, action: str | None = None) -> None:
        nonlocal clock
        clock += rng.uniform(0.05, 20)
        rows.append({
            "sender_id": conversation_id, "type_name": type_name, "timestamp": clock,
            "intent_name": intent, "action_name": action,
            "data": json.dumps({"event": type_name, "timestamp": clock, **data}),
        })

    channel = rng.choice(CHANNELS)
    add("action", {"name": "action_session_start"}, action="action_session_start")
    add("bot", {"text": "Hi, I'm the automated assistant of the practice.", "data": {"buttons": None}})
    add("session_started", {})
    add("action", {"name": "action_listen"}, action="action_listen")
    for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
        text = rng.choice(VISITOR_MESSAGES)
        intent = INTENTS.get(text, "faq")
        if intent in ("nlu_fallback", "out_of_scope"):
            text = f"{text} {rng.choice(ODD_WORDS)} {rng.randint(1, 400)}"
        understood = parse_data(rng, text, intent)
        add("user", {"text": text, "input_channel": channel, "parse_data": understood}, intent=intent)
        add("bot", {"text": "Here is what the practice's writing says about that.", "data": {"buttons": None}})
        if intent == "crisis":
            add("slot", {"name": "crisis_flag", "value": True}, action="crisis_flag")
        add("action", {"name": "action_listen"}, action="action_listen")
    return rows


def parse_data(rng: random.Random, text: str, intent: str) -> Dict[str, Any]:
    """What Rasa stores of the NLU result: the intent, its ranking, and the FAQ topics' ranking."""
    confidence = round(rng.uniform(0.3, 1), 3)
    data: Dict[str, Any] = {
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence},
                           {"name": "greet", "confidence": round(rng.uniform(0, 1 - confidence), 3)}],
        "text": text,
    }
    topic = FAQ_TOPICS.get(text.split(" blorf")[0])
    if intent == "faq" and topic:
        share = round(rng.uniform(0.4, 1), 3)
        runner_up = rng.choice([t for t in RUNNER_UP_TOPICS if t != topic])
        data["intent"]["full_retrieval_intent_name"] = f"faq/{topic}"
        data["response_selector"] = {"faq": {
            "response": {"intent_response_key": f"faq/{topic}", "confidence": share},
            "ranking": [{"intent_response_key": f"faq/{topic}", "confidence": share},
                        {"intent_response_key": f"faq/{runner_up}", "confidence": round(rng.uniform(0, 1 - share), 3)}],
        }}
    return data


def give_review_states(engine: sa.engine.Engine, seed: int = 13) -> Dict[str, int]:
    """Gives a share of the conversations a review state, as the therapist's reading would."""
    rng = random.Random(seed)
    with engine.connect() as connection:
        ids = connection.execute(sa.select(conversation_summaries.c.conversation_id)).scalars().all()
    rows, counts = [], {state: 0 for state, _share in REVIEW_STATE_SHARES}
    for conversation_id in ids:
        draw = rng.random()
        for state, share in REVIEW_STATE_SHARES:
            if draw < share:
                rows.append({"conversation_id": conversation_id, "state": state, "note": "", "updated_at": time.time()})
                counts[state] += 1
                break
            draw -= share
    with engine.begin() as connection:
        for start in range(0, len(rows), 20_000):
            connection.execute(sa.insert(conversation_reviews), rows[start:start + 20_000])
    return counts


def fill(engine: sa.engine.Engine, conversations: int, seed: int = 7) -> Dict[str, Any]:
    """Writes the synthetic conversations; returns facts the measurements need."""
    rng = random.Random(seed)
    rasa_metadata.create_all(engine)
    now = time.time()
    batch: List[Dict[str, Any]] = []
    bookings: List[Dict[str, Any]] = []
    written = 0
    started = time.perf_counter()
    for index in range(conversations):
        conversation_id = f"bench-{index:06d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}"
        rows = synthetic_conversation(rng, conversation_id, now - rng.uniform(0, 300 * 86400))
        batch.extend(rows)
        if any(row["intent_name"] == "book_consultation" for row in rows):
            bookings.append({
                "conversation_id": conversation_id, "name": "Sam Example", "contact": "sam@example.com",
                "contact_kind": "email", "preferred_times": "mornings", "consent": True, "channel": "rest",
            })
        if len(batch) >= 20_000:
            written += _write(engine, batch, bookings)
            batch, bookings = [], []
    written += _write(engine, batch, bookings)
    return {"events": written, "write_seconds": round(time.perf_counter() - started, 1)}


def _write(engine: sa.engine.Engine, rows: List[Dict[str, Any]], bookings: List[Dict[str, Any]]) -> int:
    with engine.begin() as connection:
        if rows:
            connection.execute(sa.insert(events), rows)
        if bookings:
            connection.execute(sa.insert(booking_requests), bookings)
    return len(rows)


def timed(function: Any, *args: Any) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def median_ms(client: Any, path: str, repeat: int) -> Dict[str, Any]:
    """Median and worst time of a page, after one warm-up request."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return {
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "bytes": len(response.content),
    }


def sequential_ms(client: Any, paths: List[str], repeat: int) -> Dict[str, Any]:
    """Median and worst time to fetch the page and its images one after the other (no parallel loading)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for path in paths:
            assert client.get(path).status_code == 200, path
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def deep_cursor(engine: sa.engine.Engine, fraction: float) -> str:
    table = conversation_summaries
    with engine.connect() as connection:
        total = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        row = connection.execute(
            sa.select(table.c.started_at, table.c.conversation_id)
            .order_by(table.c.started_at.desc(), table.c.conversation_id.desc())
            .offset(int(total * fraction)).limit(1)
        ).one()
    return quote(Cursor(row.started_at, row.conversation_id).encode())


def more_events(engine: sa.engine.Engine, count: int) -> None:
    """New events for existing conversations, as if visitors went on talking."""
    rng = random.Random(11)
    with engine.connect() as connection:
        ids = connection.execute(sa.select(conversation_summaries.c.conversation_id).limit(count)).scalars().all()
    rows = [row for conversation_id in ids for row in synthetic_conversation(rng, conversation_id, time.time())[4:5]]
    _write(engine, rows, [])


def measure(database_url: str, conversations: int, repeat: int) -> Dict[str, Any]:
    engine = engine_for(database_url)
    results: Dict[str, Any] = {"database": database_url.split(":", 1)[0], "conversations": conversations}
    results.update(fill(engine, conversations))
    ensure_tables(engine)
    results["summaries_from_nothing_s"] = round(timed(refresh_summaries, engine), 1)
    more_events(engine, 1000)
    results["incremental_refresh_1000_events_ms"] = round(timed(refresh_summaries, engine) * 1000, 1)
    results["refresh_with_nothing_new_ms"] = round(timed(refresh_summaries, engine) * 1000, 2)
    results["review_states_given"] = give_review_states(engine)

    app = start_review_app(database_url, PASSWORD)
    try:
        client = signed_in_client(app)
        today = date.today()
        with engine.connect() as connection:
            some_conversation = connection.execute(
                sa.select(conversation_summaries.c.conversation_id).limit(1)
            ).scalar()
        pages = {
            "list: first page": "/conversations",
            "list: page 90% down (keyset)": f"/conversations?before={deep_cursor(engine, 0.9)}",
            "list: crisis flag": "/conversations?flag=crisis",
            "list: booking flag": "/conversations?flag=booking",
            "list: unanswered flag": "/conversations?flag=unanswered",
            "list: medical flag": "/conversations?flag=medical",
            "list: channel facebook": "/conversations?channel=facebook",
            "list: last 30 days": f"/conversations?from={today - timedelta(days=30)}&to={today}",
            "list: text search 'sertraline'": "/conversations?q=sertraline",
            "list: text search, no match": "/conversations?q=zebra+crossing",
            "transcript": f"/conversations/{some_conversation}",
            "booking requests": "/bookings",
            "unanswered (grouping 2,000 newest)": "/unanswered",
            "export one conversation (JSON)": f"/data/export?conversation={some_conversation}&format=json",
            "review list: to review (the default view)": "/conversations?view=review",
            "review list: all conversations": "/conversations?view=all",
            "review list: state read": "/conversations?view=all&state=read",
            "review list: state needs follow-up": "/conversations?view=all&state=follow_up",
            "review list: state done": "/conversations?view=all&state=done",
            "review list: state new + crisis flag": "/conversations?view=all&state=new&flag=crisis",
        }
        twelve_weeks = ""
        whole_year = f"?from={today - timedelta(days=364)}&to={today}"
        for label, period in (("12 weeks", twelve_weeks), ("a year", whole_year)):
            pages[f"insights page ({label})"] = f"/insights{period}"
            for plot in INSIGHT_PLOTS:
                pages[f"insights plot {plot}.svg ({label})"] = f"/insights/{plot}.svg{period}"
        results["pages"] = {name: median_ms(client, path, repeat) for name, path in pages.items()}
        for label, period in (("12 weeks", twelve_weeks), ("a year", whole_year)):
            paths = [f"/insights{period}"] + [f"/insights/{plot}.svg{period}" for plot in INSIGHT_PLOTS]
            key = f"insights page with its plots, one after the other ({label})"
            results[key] = sequential_ms(client, paths, repeat)
        started = time.perf_counter()
        response = client.get("/data/export?format=csv")
        results["export all as CSV"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "megabytes": round(len(response.content) / 1e6, 1),
        }
    finally:
        stop_review_app(app)
        dispose_engine(database_url)
    return results


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'bench.db'}"


def postgres_database() -> Iterator[str]:
    name = f"review_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="measure on PostgreSQL at 127.0.0.1:5432 too")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where the figures go (default {RESULTS})")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="review-bench-") as folder:
        runs.append(measure(sqlite_url(Path(folder)), args.conversations, args.repeat))
    if args.postgres:
        for url in postgres_database():
            runs.append(measure(url, args.conversations, args.repeat))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(runs, indent=2))
    print(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
