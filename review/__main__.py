"""The review app's command line: the same reviews and privacy actions as the app.

    python -m review serve [--port N]          start the review app on localhost
    python -m review list [--flag F] [--state S] [--to-review] [--channel C] [--search TEXT] [--limit N]
    python -m review show CONVERSATION_ID
    python -m review export [CONVERSATION_ID] [--format json|csv] [--output FILE]
    python -m review delete CONVERSATION_ID
    python -m review purge [--dry-run]           delete what the retention period lets go
    python -m review set-password [--stdin]      store the therapist's password as an argon2 hash
    python -m review unlock                      open sign-in again after too many wrong passwords
    python -m review export-training [--output FILE]
                                                 the therapist's corrections as training data
                                                 (default data/nlu/therapist_corrections.yml)

It works on the database that `DATABASE_URL` names (the SQLite file under `var/`
by default), like the assistant and the app.
"""

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Callable, Dict, List, TextIO

import yaml
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from assistant import settings
from assistant.database import engine_for
from review import audit, queries, training_export
from review.constants import FLAGS, REVIEW_STATES
from review.exports import csv_chunks, iter_records, json_chunks
from review.privacy import count_expired, delete_conversation, purge_expired
from review.queries import ConversationFilter
from review.security import hash_password, password_problem
from review.sign_in_throttle import SignInThrottle, ensure_table
from review.summaries import ensure_tables, refresh_summaries
from review.transcript import ASSISTANT, VISITOR, build_transcript
from review.web import local_time


def _engine() -> Engine:
    engine = engine_for(settings.database_url())
    ensure_tables(engine)
    refresh_summaries(engine)
    return engine


def list_conversations(args: argparse.Namespace, out: TextIO) -> int:
    """Prints the newest conversations, one a line, with their flags."""
    selection = ConversationFilter(
        flag=args.flag, channel=args.channel, search=args.search, state=args.state, to_review=args.to_review
    )
    with _engine().connect() as connection:
        page = queries.list_conversations(connection, selection, limit=args.limit)
        total = queries.count_conversations(connection, selection)
    for row in page.rows:
        flags = ",".join(flag for flag in FLAGS if row[flag]) or "-"
        first = " ".join((row["first_message"] or "").split())[:60]
        out.write(
            f"{row['conversation_id']}\t{local_time(row['started_at'])}\t{row['channel'] or '-'}\t"
            f"{row['turns']}\t{flags}\t{first}\n"
        )
    out.write(f"{len(page.rows)} of {total} conversation(s)\n")
    return 0


def _record(engine: Engine, action: str, target: str = "", detail: str = "") -> None:
    """Writes what a command did to the audit log, as done from this machine's command line."""
    audit.record(engine, action, target, audit.LOCAL, detail, audit.COMMAND_LINE)


def show(args: argparse.Namespace, out: TextIO) -> int:
    """Prints one conversation's transcript."""
    engine = _engine()
    with engine.connect() as connection:
        if queries.conversation_summary(connection, args.conversation_id) is None:
            sys.stderr.write(f"No conversation {args.conversation_id!r}.\n")
            return 1
        entries = build_transcript(queries.conversation_events(connection, args.conversation_id))
    _record(engine, audit.TRANSCRIPT_VIEW, args.conversation_id)
    for entry in entries:
        when = local_time(entry.timestamp, with_seconds=True)
        if entry.kind == VISITOR:
            confidence = "" if entry.confidence is None else f" {entry.confidence:.0%}"
            mark = " [CRISIS]" if entry.crisis else ""
            out.write(f"{when} visitor{mark}: {entry.text}\n    understood as {entry.intent}{confidence}\n")
        elif entry.kind == ASSISTANT:
            out.write(f"{when} assistant: {entry.text}\n")
            if entry.buttons:
                out.write("    buttons: " + " | ".join(button.title for button in entry.buttons) + "\n")
        else:
            out.write(f"{when} ({entry.text})\n")
    return 0


def export(args: argparse.Namespace, out: TextIO) -> int:
    """Writes one conversation, or all of them, as JSON or CSV."""
    engine = _engine()
    if args.conversation_id:
        with engine.connect() as connection:
            if queries.conversation_summary(connection, args.conversation_id) is None:
                sys.stderr.write(f"No conversation {args.conversation_id!r}.\n")
                return 1
    ids = [args.conversation_id] if args.conversation_id else None
    records = iter_records(engine, ids, with_review=True)
    chunks = json_chunks(records, single=bool(ids)) if args.format == "json" else csv_chunks(records)
    target = open(args.output, "w", encoding="utf-8", newline="") if args.output else out
    try:
        for chunk in chunks:
            target.write(chunk)
    finally:
        if args.output:
            target.close()
    written_to = Path(args.output).name if args.output else "standard output"
    _record(engine, audit.EXPORT, args.conversation_id or audit.ALL_CONVERSATIONS, f"{args.format} to {written_to}")
    return 0


def delete(args: argparse.Namespace, out: TextIO) -> int:
    """Deletes one conversation with everything stored about it."""
    engine = _engine()
    report = delete_conversation(engine, args.conversation_id)
    if report.conversations == 0 and report.events == 0:
        sys.stderr.write(f"No conversation {args.conversation_id!r}.\n")
        return 1
    _record(engine, audit.DELETION, args.conversation_id, audit.deletion_detail(report))
    out.write(
        f"Deleted conversation {args.conversation_id}: {report.events} event(s), "
        f"{report.booking_requests} booking request(s).\n"
    )
    return 0


def purge(args: argparse.Namespace, out: TextIO) -> int:
    """Deletes conversations older than the practice profile's retention period."""
    retention_days = settings.practice_profile().retention_days
    engine = _engine()
    if args.dry_run:
        count = count_expired(engine, retention_days)
        out.write(f"{count} conversation(s) are older than {retention_days} days; nothing was deleted.\n")
        return 0
    report = purge_expired(engine, retention_days)
    _record(engine, audit.PURGE, audit.purge_target(retention_days), audit.deletion_detail(report))
    out.write(
        f"Deleted {report.conversations} conversation(s) older than {retention_days} days "
        f"({report.events} event(s), {report.booking_requests} booking request(s)).\n"
    )
    return 0


def set_password(args: argparse.Namespace, out: TextIO) -> int:
    """Asks for the therapist's password and stores only its argon2 hash."""
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("New password for the review app: ")
        if getpass.getpass("The same again: ") != password:
            sys.stderr.write("The two passwords differ; nothing was changed.\n")
            return 1
    problem = password_problem(password)
    if problem:
        sys.stderr.write(f"That password is too weak: {problem}. Nothing was changed.\n")
        return 1
    path = settings.review_password_file()
    write_private(path, hash_password(password) + "\n")
    try:
        _record(engine_for(settings.database_url()), audit.PASSWORD_CHANGE, "review password", path.name)
    except SQLAlchemyError as problem:
        sys.stderr.write(f"The password was changed, but the audit log could not record it: {problem}\n")
        return 1
    out.write(f"The password's hash is stored in {path}. Restarting is not needed.\n")
    return 0


def write_private(path: Path, content: str) -> None:
    """Writes a file only its owner can read, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(content)
    os.replace(temporary, path)


def unlock(args: argparse.Namespace, out: TextIO) -> int:
    """Opens sign-in again at once: the failures so far no longer count, for any address."""
    engine = engine_for(settings.database_url())
    ensure_table(engine)
    forgiven = SignInThrottle(engine).unlock()
    _record(engine, audit.SIGN_IN_UNLOCK, "sign-in", f"{forgiven} failed attempt(s) forgiven")
    out.write(f"Sign-in is open again ({forgiven} recent failed attempt(s) no longer count).\n")
    return 0


def export_training(args: argparse.Namespace, out: TextIO) -> int:
    """Writes the corrections and the inbox's assignments as a Rasa NLU file for `make train`."""
    engine = _engine()
    target = Path(args.output) if args.output else training_export.DEFAULT_TARGET
    try:
        report = training_export.export_training(engine, target)
    except (OSError, yaml.YAMLError) as problem:
        sys.stderr.write(f"Could not write {target}: {problem}. Nothing was changed.\n")
        return 1
    audit.record(engine, audit.EXPORT, target.name, detail="training data", actor=audit.COMMAND_LINE)
    out.write(f"{target}: {report.examples} example(s), {report.added} new since the last export.\n")
    if report.already_trained:
        out.write(f"{report.already_trained} left out: already in data/nlu/ with the same intent.\n")
    for example, intent, elsewhere in report.conflicts:
        out.write(f"Left out, contradicts data/nlu/ ({elsewhere}): {example!r} -> {intent}\n")
    out.write("Now `make train`, then restart the assistant (`make run`) to use them.\n")
    return 0


def positive_number(text: str) -> int:
    """An argument that must be a whole number above zero."""
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number above zero: {text!r}")
    return int(text)


def serve(args: argparse.Namespace, out: TextIO) -> int:
    """Runs the review app on localhost until stopped."""
    from review.app import create_app
    from review.config import ReviewConfig

    config = ReviewConfig.from_settings()
    port = args.port or settings.review_port()
    if config.password_hash() is None:
        out.write("No review password is set: run `make review-password` (or set REVIEW_PASSWORD).\n")
    out.write(f"Therapist's review: http://localhost:{port}\n")
    out.flush()
    create_app(config).run(host=args.host, port=port, access_log=False, motd=False, workers=1)
    return 0


COMMANDS: Dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
    "serve": serve,
    "list": list_conversations,
    "show": show,
    "export": export,
    "delete": delete,
    "purge": purge,
    "set-password": set_password,
    "unlock": unlock,
    "export-training": export_training,
}


def parser() -> argparse.ArgumentParser:
    """The command line's arguments."""
    root = argparse.ArgumentParser(prog="python -m review", description="The therapist's review.")
    commands = root.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="start the review app")
    serving.add_argument("--port", type=int, default=None, help="default: REVIEW_PORT or 5006")
    serving.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (this machine only)")
    listing = commands.add_parser("list", help="list conversations, newest first")
    listing.add_argument("--flag", choices=FLAGS)
    listing.add_argument("--state", choices=REVIEW_STATES, help="the therapist's review state")
    listing.add_argument("--to-review", action="store_true", help="only new conversations with a review flag")
    listing.add_argument("--channel")
    listing.add_argument("--search")
    listing.add_argument("--limit", type=positive_number, default=50)
    commands.add_parser("show", help="print a conversation").add_argument("conversation_id")
    exporting = commands.add_parser("export", help="export one or all conversations")
    exporting.add_argument("conversation_id", nargs="?")
    exporting.add_argument("--format", choices=("json", "csv"), default="json")
    exporting.add_argument("--output", help="a file (default: standard output)")
    commands.add_parser("delete", help="delete a conversation and everything about it").add_argument("conversation_id")
    purging = commands.add_parser("purge", help="delete conversations older than the retention period")
    purging.add_argument("--dry-run", action="store_true", help="only count them")
    setting = commands.add_parser("set-password", help="store the therapist's password (as a hash)")
    setting.add_argument("--stdin", action="store_true", help="read it from standard input")
    commands.add_parser("unlock", help="open sign-in again after too many wrong passwords")
    training = commands.add_parser("export-training", help="write the therapist's corrections as NLU training data")
    training.add_argument("--output", help="the file to write (default: data/nlu/therapist_corrections.yml)")
    return root


def main(argv: List[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Runs one command."""
    args = parser().parse_args(argv)
    return COMMANDS[args.command](args, out)


if __name__ == "__main__":
    sys.exit(main())
