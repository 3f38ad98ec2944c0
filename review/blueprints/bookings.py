"""The inbox of booking requests, and moving a request along (new, contacted, closed)."""

from typing import Any, Dict

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from assistant.database import BOOKING_STATUSES
from review import queries
from review.parameters import id_in_range, optional_id
from review.queries import InvalidQuery
from review.web import error_page, in_thread, render, see_other

bp = Blueprint("bookings")


def _inbox(engine: Any, status: str | None, before_id: int | None) -> Dict[str, Any]:
    with engine.connect() as connection:
        requests = queries.list_booking_requests(connection, status=status, before_id=before_id)
        return {"booking_requests": requests, "counts": queries.booking_status_counts(connection)}


@bp.get("/bookings")
async def inbox(request: Request) -> HTTPResponse:
    """Booking requests, newest first; `status` narrows to one status."""
    status = request.args.get("status") or None
    try:
        before_id = optional_id(request.args.get("before"), "before")
        updated = optional_id(request.args.get("updated"), "updated")
        found = await in_thread(_inbox, request.app.ctx.engine, status, before_id)
    except InvalidQuery:
        return error_page(request, 400, "That filter cannot be used.")
    older = found["booking_requests"][-1]["id"] if len(found["booking_requests"]) == queries.PAGE_SIZE else None
    return render(
        request,
        "bookings.html",
        shown_status=status or "",
        statuses=BOOKING_STATUSES,
        older=older,
        updated=updated,
        **found,
    )


def _one(engine: Any, booking_id: int) -> Dict[str, Any]:
    with engine.connect() as connection:
        return {"booking_requests": queries.booking_requests_by_id(connection, [booking_id]),
                "counts": queries.booking_status_counts(connection)}


@bp.get("/bookings/<booking_id:int>")
async def one_booking(request: Request, booking_id: int) -> HTTPResponse:
    """One booking, as the calendar event's link opens it (the event names no more than this)."""
    if not id_in_range(booking_id):
        return error_page(request, 404, "There is no such booking request.")
    found = await in_thread(_one, request.app.ctx.engine, booking_id)
    if not found["booking_requests"]:
        return error_page(request, 404, "There is no such booking request.")
    return render(request, "bookings.html", shown_status="", statuses=BOOKING_STATUSES, older=None,
                  updated=None, **found)


def _set_status(engine: Any, booking_id: int, status: str) -> bool:
    with engine.begin() as connection:
        return queries.set_booking_status(connection, booking_id, status)


@bp.post("/bookings/<booking_id:int>/status")
async def move(request: Request, booking_id: int) -> HTTPResponse:
    """Moves a request to the status the therapist chose."""
    status = request.form.get("status") or ""
    if not id_in_range(booking_id):
        return error_page(request, 404, "There is no such booking request.")
    try:
        found = await in_thread(_set_status, request.app.ctx.engine, booking_id, status)
    except InvalidQuery:
        return error_page(request, 400, "That status does not exist.")
    if not found:
        return error_page(request, 404, "There is no such booking request.")
    return see_other("/bookings", status=request.form.get("back") or None, updated=str(booking_id))
