"""A crisis flag or a new booking request emails the therapist a link, never the words."""

from email.message import EmailMessage
from typing import List

from assistant.conversation_references import ConversationReferences
from tests.review.conftest import BOOKING_SCRIPT, PASSWORD
from tests.review.mail import MailRecorder
from tests.review.servers import ReviewClient, RunningReviewApp, wait_for
from tests.servers import RunningAssistant


def alert_path(conversation_id: str) -> str:
    """The review app's path an alert about this conversation links to (by reference, not id)."""
    return f"/alerts/{ConversationReferences.from_secret().reference_for(conversation_id)}"


def emails_about(recorder: MailRecorder, conversation_id: str) -> List[EmailMessage]:
    return [message for message in recorder.received() if alert_path(conversation_id) in message.get_content()]


def test_a_crisis_emails_the_therapist_a_link_to_the_conversation_but_not_its_words(
    alerting_assistant: RunningAssistant, mail_recorder: MailRecorder, second_review_app: RunningReviewApp
) -> None:
    sender = alerting_assistant.new_sender()
    alerting_assistant.say(sender, "I want to kill myself")

    [email] = wait_for(lambda: emails_about(mail_recorder, sender))

    assert "crisis" in email["Subject"].lower()
    assert email["To"] == "therapist@example.com" and email["From"] == "assistant@example.com"
    assert f"{second_review_app.url}{alert_path(sender)}" in email.get_content()
    assert sender not in email.get_content() and sender not in email["Subject"]
    assert "kill" not in email.get_content() and "kill" not in email["Subject"]


def test_a_booking_request_emails_the_therapist_a_link_but_not_the_visitors_details(
    alerting_assistant: RunningAssistant, mail_recorder: MailRecorder, second_review_app: RunningReviewApp
) -> None:
    sender = alerting_assistant.new_sender()
    for message in BOOKING_SCRIPT:
        alerting_assistant.say(sender, message)

    [email] = wait_for(lambda: emails_about(mail_recorder, sender))

    assert "request" in email["Subject"].lower()
    assert f"{second_review_app.url}{alert_path(sender)}" in email.get_content()
    for detail in ("Jordan", "jordan@example.com", "weekday", sender):
        assert detail not in email.get_content()


def test_an_ordinary_question_sends_no_email(alerting_assistant: RunningAssistant, mail_recorder: MailRecorder) -> None:
    quiet, flagged = alerting_assistant.new_sender(), alerting_assistant.new_sender()
    alerting_assistant.say(quiet, "is ketamine safe?")
    alerting_assistant.say(flagged, "I want to kill myself")

    wait_for(lambda: emails_about(mail_recorder, flagged))  # mail is sent in order

    assert emails_about(mail_recorder, quiet) == []


def test_the_emailed_link_opens_the_conversation_once_the_therapist_signs_in(
    alerting_assistant: RunningAssistant, mail_recorder: MailRecorder, second_review_app: RunningReviewApp
) -> None:
    sender = alerting_assistant.new_sender()
    alerting_assistant.say(sender, "I want to kill myself")
    [email] = wait_for(lambda: emails_about(mail_recorder, sender))
    link = next(line for line in email.get_content().splitlines() if line.startswith("http"))
    path = link.removeprefix(second_review_app.url)

    client = ReviewClient(second_review_app.url)
    refused = client.get(path)
    signed_in = client.sign_in(PASSWORD, next_path=path)

    assert refused.status_code == 303 and refused.headers["Location"].startswith("/sign-in")
    assert signed_in.headers["Location"] == path
    page = client.get(path)
    assert page.status_code == 200 and "I want to kill myself" in page.text


def test_an_altered_alert_link_opens_no_conversation(
    alerting_assistant: RunningAssistant, mail_recorder: MailRecorder, second_review_app: RunningReviewApp
) -> None:
    sender = alerting_assistant.new_sender()
    alerting_assistant.say(sender, "I want to kill myself")
    wait_for(lambda: emails_about(mail_recorder, sender))
    path = alert_path(sender)
    altered = path[:-1] + ("B" if path[-1] != "B" else "C")

    client = ReviewClient(second_review_app.url)
    client.sign_in(PASSWORD)

    assert client.get(path).status_code == 200
    for wrong in (altered, f"/alerts/{sender}", "/alerts/x"):
        page = client.get(wrong)
        assert page.status_code == 404 and "I want to kill myself" not in page.text
