"""Messenger as Meta uses it: signed webhook calls in, Send API requests out to a stand-in."""

import hashlib
import hmac
import json
import logging
import time
from typing import Any, Dict, List

import pytest
import requests

from assistant import settings
from channels import inbound
from channels.facebook import CHANNEL_OFF_MESSAGE, SecureFacebookInput
from tests.channels.conversations import stored_events
from tests.channels.graph_api import GraphApiStandIn
from tests.channels.messenger_rules import message_text, offered_payloads, offered_titles, problems
from tests.channels.messenger_webhook import (
    PAGE_ID,
    FacebookApp,
    MessengerWebhook,
    attachment_event,
    echo_event,
    new_psid,
    other_events,
    postback_event,
    quick_reply_event,
    signature,
    text_event,
    webhook_body,
)
from tests.servers import RunningAssistant


def _texts(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(message_text(message) for message in messages)


def _assert_fits(messages: List[Dict[str, Any]]) -> None:
    assert messages, "nothing was sent"
    assert [p for message in messages for p in problems(message)] == []


# Webhook verification


def test_verification_with_the_right_token_answers_the_challenge(
    channels_assistant: RunningAssistant, facebook_app: FacebookApp
) -> None:
    answer = requests.get(
        f"{channels_assistant.rasa_url}/webhooks/facebook/webhook",
        params={"hub.mode": "subscribe", "hub.verify_token": facebook_app.verify_token, "hub.challenge": "1158201444"},
        timeout=10,
    )
    assert (answer.status_code, answer.text) == (200, "1158201444")


@pytest.mark.parametrize("token", ["wrong-token", "", None])
def test_verification_with_a_wrong_token_is_refused(
    channels_assistant: RunningAssistant, token: str | None
) -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
    if token is not None:
        params["hub.verify_token"] = token
    answer = requests.get(f"{channels_assistant.rasa_url}/webhooks/facebook/webhook", params=params, timeout=10)
    assert answer.status_code == 403
    assert "1158201444" not in answer.text


# Signatures


def _sha1_signature(raw: bytes, secret: str) -> str:
    return "sha1=" + hmac.new(secret.encode(), raw, hashlib.sha1).hexdigest()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda raw, app: {"X-Hub-Signature-256": ""}, id="missing"),
        pytest.param(lambda raw, app: {"X-Hub-Signature-256": signature(raw, "not-the-secret")}, id="wrong-secret"),
        pytest.param(lambda raw, app: {"X-Hub-Signature-256": signature(raw + b" ", app.app_secret)}, id="other-body"),
        pytest.param(lambda raw, app: {"X-Hub-Signature-256": "sha256=" + "0" * 64}, id="zeros"),
        pytest.param(lambda raw, app: {"X-Hub-Signature-256": "sha256=é"}, id="not-hex"),
        pytest.param(
            lambda raw, app: {"X-Hub-Signature-256": "", "X-Hub-Signature": _sha1_signature(raw, app.app_secret)},
            id="old-sha1-only",
        ),
    ],
)
def test_a_post_without_a_valid_signature_is_refused_and_nothing_is_processed(
    messenger: MessengerWebhook, psid: str, forge: Any
) -> None:
    raw = json.dumps(webhook_body(text_event(psid, "is ketamine safe?"))).encode()
    answer = messenger.post(raw, headers=forge(raw, messenger.app))
    assert answer.status_code == 403
    assert messenger.graph.requests_to(psid) == []
    assert stored_events(messenger.database_url, psid) == []


# Conversations


def test_a_question_gets_the_notice_then_the_cited_answer_with_quick_replies(
    messenger: MessengerWebhook, psid: str, graph_api: GraphApiStandIn, facebook_app: FacebookApp
) -> None:
    sent = messenger.say(psid, "is ketamine safe?")
    _assert_fits(sent)
    assert "automated assistant" in message_text(sent[0]) and "988" in message_text(sent[0])
    assert "From the practice's writing: “" in _texts(sent)
    assert "/book_consultation" in offered_payloads(sent[-1])
    requests_sent = graph_api.requests_to(psid)
    actions = [r.body.get("sender_action") for r in requests_sent if r.message is None]
    assert actions == ["mark_seen", "typing_on", "typing_off"]
    assert all(r.path == "/v24.0/me/messages" for r in requests_sent)
    proof = hmac.new(facebook_app.app_secret.encode(), facebook_app.page_access_token.encode(), hashlib.sha256)
    assert {r.query["access_token"] for r in requests_sent} == {facebook_app.page_access_token}
    assert {r.query["appsecret_proof"] for r in requests_sent} == {proof.hexdigest()}


def test_quick_reply_payloads_and_postbacks_reach_the_assistant(messenger: MessengerWebhook, psid: str) -> None:
    messenger.say(psid, "hello")
    safety = messenger.send(psid, postback_event(psid, "Is it safe?", '/choose_topic{"topic": "safety"}'))
    _assert_fits(safety)
    assert "risks" in _texts(safety)
    asked = messenger.send(psid, quick_reply_event(psid, "Book a free call", "/book_consultation"))
    _assert_fits(asked)
    assert "what name" in _texts(asked).lower()


def test_the_booking_form_works_in_messenger_and_its_confirmation_offers_four_quick_replies(
    messenger: MessengerWebhook, psid: str
) -> None:
    messenger.say(psid, "I'd like to book the free consultation call")
    assert "reach you" in _texts(messenger.say(psid, "Jordan Lee"))
    assert "doesn't look like an email address" in _texts(messenger.say(psid, "jordan@example"))
    assert "times" in _texts(messenger.say(psid, "jordan@example.com"))
    consent = messenger.say(psid, "weekday mornings")
    _assert_fits(consent)
    assert offered_payloads(consent[-1]) == ["/affirm", "/deny"]
    confirmation = messenger.send(psid, quick_reply_event(psid, "Yes, that's OK", "/affirm"))
    _assert_fits(confirmation)
    assert "Jordan Lee" in _texts(confirmation)
    assert offered_titles(confirmation[-1]) == ["Yes, send it", "Change name", "Change contact", "Change times"]
    assert "quick_replies" in confirmation[-1]
    done = messenger.send(psid, quick_reply_event(psid, "Yes, send it", "/affirm"))
    assert "Your request is with" in _texts(done)


def test_crisis_resources_come_first_even_in_the_middle_of_the_form(messenger: MessengerWebhook, psid: str) -> None:
    messenger.say(psid, "book a consultation please")
    sent = messenger.say(psid, "I don't want to be alive anymore")
    _assert_fits(sent)
    assert "988" in message_text(sent[0]) and "741741" in message_text(sent[0])


# What is not a visitor's message


def test_an_attachment_gets_a_request_for_text_and_leaves_the_conversation_alone(
    messenger: MessengerWebhook, psid: str
) -> None:
    messenger.say(psid, "book a consultation please")
    events_before = stored_events(messenger.database_url, psid)
    for kind in ("image", "audio", "file"):
        assert messenger.send(psid, attachment_event(psid, kind)) == [{"text": inbound.NOT_TEXT_REPLY}]
    assert stored_events(messenger.database_url, psid) == events_before
    assert "reach you" in _texts(messenger.say(psid, "Sam"))


def test_the_pages_own_echoes_are_ignored(messenger: MessengerWebhook, psid: str, graph_api: GraphApiStandIn) -> None:
    answer = messenger.post(webhook_body(echo_event(psid, "Hello from the page")))
    assert answer.status_code == 200
    assert graph_api.requests_to(psid) == [] and graph_api.requests_to(PAGE_ID) == []
    assert stored_events(messenger.database_url, PAGE_ID) == []


def test_reads_deliveries_reactions_and_unknown_events_are_acknowledged_and_ignored(
    messenger: MessengerWebhook, psid: str, graph_api: GraphApiStandIn
) -> None:
    assert messenger.post(webhook_body(*other_events(psid))).status_code == 200
    assert messenger.post({"object": "instagram", "entry": [{"messaging": [text_event(psid, "hi")]}]}).status_code == 200
    assert messenger.post({"object": "page", "entry": "not a list"}).status_code == 200
    assert graph_api.requests_to(psid) == []


def test_every_event_of_a_batch_is_answered(messenger: MessengerWebhook, graph_api: GraphApiStandIn) -> None:
    first, second = new_psid(), new_psid()
    events = (text_event(first, "what is IFS?"), text_event(second, "what is KAP?"))
    answer = messenger.post(webhook_body(*events))
    assert answer.status_code == 200
    messenger.wait_until_handled(*events)
    assert "Internal Family Systems" in _texts(graph_api.messages_to(first))
    assert graph_api.messages_to(second)


# Answered at once, handled in the background, each message once

BATCH_SCRIPT = ("hello", "what is IFS?", "what is KAP?", "is ketamine safe?")
BATCH_ACK_SECONDS = 1.0  # Meta retries slow webhooks; measured answers take milliseconds


def _visitor_texts(database_url: str, psid: str) -> List[str]:
    return [json.loads(data).get("text") for kind, data in stored_events(database_url, psid) if kind == "user"]


def test_a_replayed_signed_request_is_handled_once(messenger: MessengerWebhook, psid: str) -> None:
    event = text_event(psid, "what is IFS?")
    raw = json.dumps(webhook_body(event)).encode()
    assert messenger.post(raw).status_code == 200
    messenger.wait_until_handled(event)
    answered = len(messenger.graph.messages_to(psid))

    replays = [messenger.post(raw) for _ in range(3)]
    later = messenger.say(psid, "what is KAP?")  # queued behind the replays, so they are done

    assert [replay.status_code for replay in replays] == [200, 200, 200]
    assert answered > 0 and len(messenger.graph.messages_to(psid)) == answered + len(later)
    assert _visitor_texts(messenger.database_url, psid) == ["what is IFS?", "what is KAP?"]


def test_a_batch_of_100_events_is_acknowledged_at_once_and_every_event_is_answered_in_order(
    messenger: MessengerWebhook,
) -> None:
    visitors = [new_psid() for _ in range(25)]
    events = [text_event(visitor, text) for text in BATCH_SCRIPT for visitor in visitors]
    raw = json.dumps(webhook_body(*events)).encode()

    started = time.monotonic()
    answer = messenger.post(raw)
    acknowledged_in = time.monotonic() - started

    assert answer.status_code == 200 and len(events) == 100
    assert acknowledged_in < BATCH_ACK_SECONDS, f"acknowledged in {acknowledged_in:.3f} s"
    messenger.wait_until_handled(*events)
    for visitor in visitors:
        assert _visitor_texts(messenger.database_url, visitor) == list(BATCH_SCRIPT)
        assert len(messenger.graph.messages_to(visitor)) >= len(BATCH_SCRIPT)


# Bad input


def test_a_signed_body_that_is_not_json_is_refused_and_the_server_stays_up(
    messenger: MessengerWebhook, psid: str
) -> None:
    assert messenger.post(b'{"object": "page", "entry": [').status_code == 400
    assert messenger.post(b"\xff\xfe not even text").status_code == 400
    assert messenger.say(psid, "what is IFS?")


def test_empty_huge_emoji_right_to_left_and_html_messages_each_get_a_clear_answer(
    messenger: MessengerWebhook, psid: str
) -> None:
    messenger.say(psid, "hello")
    assert messenger.say(psid, "") == [{"text": inbound.EMPTY_MESSAGE_REPLY}]
    assert messenger.say(psid, "   \n ") == [{"text": inbound.EMPTY_MESSAGE_REPLY}]
    assert messenger.say(psid, "why " * 5000) == [{"text": inbound.TOO_LONG_REPLY}]
    for text in ("😀🙏 is it safe? 🌿", "هل العلاج بالكيتامين آمن؟", "<script>alert('x')</script><b>hi</b>"):
        _assert_fits(messenger.say(psid, text))
    follow_up = messenger.say(psid, "start over")
    assert "start fresh" in _texts(follow_up)
    assert "risks" in _texts(messenger.say(psid, "is ketamine safe?"))


# The channel without credentials


def test_without_credentials_the_channel_is_off_and_says_so_once_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in settings.FACEBOOK_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.WARNING, logger="channels.facebook"):
        channel = SecureFacebookInput.from_credentials(None)
    assert not channel.is_on
    assert [record.getMessage() for record in caplog.records] == [CHANNEL_OFF_MESSAGE]
    assert channel.get_output_channel() is None


def test_without_credentials_the_webhook_answers_503(running_assistant: RunningAssistant) -> None:
    if settings.facebook_credentials() is not None:
        pytest.skip("FACEBOOK_* variables are set in this shell, so the shared test server has Messenger on")
    url = f"{running_assistant.rasa_url}/webhooks/facebook/webhook"
    assert requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "x"}, timeout=10).status_code == 503
    assert requests.post(url, json=webhook_body(text_event("1", "hi")), timeout=10).status_code == 503
