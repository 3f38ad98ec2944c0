"""Out-of-range and malformed parameters get a 400 (or a 404), never a server error.

Every query parameter the review app reads is tried with the values that used to
reach the database or the date arithmetic unchecked: ids beyond any column, dates
beyond the clock, digits that are not ASCII, NUL characters.
"""

from datetime import date

import pytest

from review.parameters import MAX_ID, optional_date, optional_id, whole_number
from review.queries import InvalidQuery
from tests.review.servers import ReviewClient, RunningReviewApp, signed_in_client

HUGE = "9" * 30

MALFORMED = [
    f"/bookings?before={HUGE}",
    f"/bookings?before={MAX_ID + 1}",
    "/bookings?before=-1",
    "/bookings?before=0",
    "/bookings?before=abc",
    "/bookings?before=%C2%B2",  # a superscript two: a "digit" to str.isdigit, not to int()
    "/bookings?updated=seven",
    f"/bookings?updated={HUGE}",
    "/bookings?status=nonsense",
    f"/conversations?notice=purged&count={'9' * 5000}",
    "/conversations?notice=purged&count=-3",
    "/conversations?notice=purged&count=%C2%B2",
    "/conversations?from=2024-99-01",
    "/conversations?from=0001-01-01",
    "/conversations?to=9999-12-31",
    "/conversations?from=99999-01-01",
    "/conversations?before=inf:x",
    "/conversations?before=1e999:x",
    "/conversations?after=nan:x",
    "/conversations?before=12",
    "/conversations?flag=nonsense",
    "/conversations?q=%00",
    "/conversations?channel=a%00b",
    "/data/export?conversation=%00",
    "/data/export?format=xml",
    "/conversations/%00",
    "/conversations/a%00b/delete",
    "/%00",
    "/sign-in?next=%00",
]


@pytest.fixture(scope="module")
def signed_in(empty_review_app: RunningReviewApp) -> ReviewClient:
    return signed_in_client(empty_review_app)


@pytest.mark.parametrize("path", MALFORMED)
def test_a_malformed_or_out_of_range_parameter_is_a_400_not_a_500(signed_in: ReviewClient, path: str) -> None:
    response = signed_in.get(path)

    assert response.status_code in (400, 404), (path, response.status_code)
    assert "Traceback" not in response.text


def test_a_nul_byte_is_refused_even_before_signing_in(empty_review_app: RunningReviewApp) -> None:
    stranger = ReviewClient(empty_review_app.url)

    assert stranger.get("/conversations/%00").status_code == 400
    assert stranger.get("/sign-in?next=%00").status_code == 400


def test_a_nul_byte_in_a_form_is_refused(signed_in: ReviewClient) -> None:
    response = signed_in.submit("/unanswered/assign", {"intent": "greet", "text": "hello\x00there"})

    assert response.status_code == 400


@pytest.mark.parametrize("booking_id", [HUGE, str(MAX_ID + 1)])
def test_a_status_change_for_an_impossible_booking_id_is_a_404(signed_in: ReviewClient, booking_id: str) -> None:
    response = signed_in.submit(f"/bookings/{booking_id}/status", {"status": "closed"}, page="/bookings")

    assert response.status_code == 404


def test_valid_parameters_still_work(signed_in: ReviewClient) -> None:
    for path in ["/bookings?before=5", "/bookings?updated=3", "/conversations?from=2024-01-01&to=2024-12-31",
                 "/conversations?notice=purged&count=4", "/conversations?before=1700000000.0:someone"]:
        assert signed_in.get(path).status_code == 200, path


def test_whole_numbers_are_plain_ascii_digits_within_bounds() -> None:
    assert whole_number("42", "n") == 42
    assert optional_id(None, "before") is None and optional_id(str(MAX_ID), "before") == MAX_ID
    for text in ["", "-1", "1.5", "²", "٣", " 4", HUGE]:
        with pytest.raises(InvalidQuery):
            whole_number(text, "n")
    with pytest.raises(InvalidQuery):
        optional_id("0", "before")


def test_dates_must_fall_within_the_range_the_list_can_filter() -> None:
    assert optional_date("2024-02-29") == date(2024, 2, 29) and optional_date("") is None
    for text in ["0001-01-01", "9999-12-31", "2024-02-30", "yesterday"]:
        with pytest.raises(InvalidQuery):
            optional_date(text)
