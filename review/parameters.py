"""The review app's query parameters, read within bounds: anything else is a 400, never a 500.

The database takes ids only up to its column's size (PostgreSQL's INTEGER), dates
become times only within the range the server's clock can represent, and
PostgreSQL refuses a NUL character in any text. A value outside those used to
reach the database or the date arithmetic and come back as a server error.
"""

from datetime import date
from urllib.parse import unquote

from sanic import Request

from review.queries import InvalidQuery

MAX_ID = 2**31 - 1
MAX_COUNT = 10**9
EARLIEST_DATE = date(1970, 1, 1)
LATEST_DATE = date(9000, 12, 31)
NUL = "\x00"


def id_in_range(value: int) -> bool:
    """Whether a number can be the id of a stored row at all."""
    return 1 <= value <= MAX_ID


def whole_number(text: str, name: str, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """A whole number written in plain ASCII digits, within bounds.

    Raises:
        InvalidQuery: it is not one, or it is out of range.
    """
    if not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        raise InvalidQuery(f"{name} must be a whole number")
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidQuery(f"{name} is out of range")
    return value


def optional_id(text: str | None, name: str) -> int | None:
    """A row id from the query string, or None when absent."""
    if not text:
        return None
    return whole_number(text, name, minimum=1, maximum=MAX_ID)


def optional_date(text: str | None) -> date | None:
    """A calendar date (YYYY-MM-DD) within the range the list can filter by, or None when absent."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as error:
        raise InvalidQuery(f"not a date: {text[:20]!r}") from error
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise InvalidQuery(f"dates run from {EARLIEST_DATE} to {LATEST_DATE}")
    return day


def carries_nul(request: Request) -> bool:
    """Whether the path, the query string or a submitted form holds a NUL character.

    No page of the app has a use for one, and PostgreSQL would fail on it.
    """
    if NUL in unquote(request.path) or NUL in unquote(request.query_string):
        return True
    if request.method == "POST" and request.form:
        return any(NUL in key or any(NUL in value for value in values) for key, values in request.form.items())
    return False
