"""Unanswered questions: grouped by similarity, given a topic by its title, exported as NLU YAML."""

from datetime import datetime
from typing import Any, Dict, List

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, text

from review import queries
from review.grouping import group_similar
from review.topics import load_topics
from review.training_data import nlu_yaml
from review.web import error_page, in_thread, refresh, render, see_other

bp = Blueprint("unanswered")

GROUPS_SHOWN = 100
TEXTS_SHOWN = 20


def _groups(engine: Any) -> Dict[str, Any]:
    with engine.connect() as connection:
        waiting = queries.unanswered_texts(connection, assigned=False)
        assigned = queries.unanswered_texts(connection, assigned=True)
    groups = [
        {
            "representative": waiting[group.representative],
            "texts": [waiting[i] for i in group.members],
            "messages": sum(waiting[i]["count"] for i in group.members),
        }
        for group in group_similar([row["text"] for row in waiting])
    ]
    return {
        # The largest groups teach the assistant most; the rest wait for the next visit.
        "groups": groups[:GROUPS_SHOWN],
        "groups_hidden": max(0, len(groups) - GROUPS_SHOWN),
        "texts_shown": TEXTS_SHOWN,
        "assigned": assigned,
        "waiting": sum(row["count"] for row in waiting),
    }


@bp.get("/unanswered")
async def unanswered_questions(request: Request) -> HTTPResponse:
    """What the assistant could not answer, similar messages together, largest group first."""
    await refresh(request)
    found = await in_thread(_groups, request.app.ctx.engine)
    topics = load_topics(request.app.ctx.config.domain_files)
    return render(request, "unanswered.html", topics=topics, **found)


def _texts(request: Request) -> List[str]:
    return [value for value in request.form.getlist("text") or [] if value]


def _assign(engine: Any, texts: List[str], intent: str | None) -> int:
    with engine.begin() as connection:
        return queries.assign_intent(connection, texts, intent)


@bp.post("/unanswered/assign")
async def assign(request: Request) -> HTTPResponse:
    """Gives a message (every time it was sent), or a whole group, the intent it should have had."""
    intent = (request.form.get("intent") or "").strip()
    if not load_topics(request.app.ctx.config.domain_files).offered(intent):
        return error_page(request, 400, "Choose one of the assistant's topics.")
    await in_thread(_assign, request.app.ctx.engine, _texts(request), intent)
    return see_other("/unanswered")


@bp.post("/unanswered/unassign")
async def unassign(request: Request) -> HTTPResponse:
    """Takes an assignment back; the message is unanswered again."""
    await in_thread(_assign, request.app.ctx.engine, _texts(request), None)
    return see_other("/unanswered")


def _export(engine: Any) -> str:
    with engine.connect() as connection:
        return nlu_yaml(queries.assignments(connection))


@bp.get("/unanswered/export.yml")
async def export(request: Request) -> HTTPResponse:
    """The assignments as Rasa NLU YAML, ready for `data/nlu/`."""
    document = await in_thread(_export, request.app.ctx.engine)
    filename = f"nlu_from_review_{datetime.now():%Y%m%d}.yml"
    return text(
        document,
        content_type="application/x-yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
