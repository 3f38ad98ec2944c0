"""What every channel accepts from a visitor: checked, normalised text, or a clear refusal."""

import json
import unicodedata
from typing import List

import pytest

from channels import inbound
from tests.channels.chat_socket import ChatSocket, texts
from tests.channels.conversations import stored_events
from tests.channels.messenger_webhook import MessengerWebhook
from tests.servers import RunningAssistant

INVISIBLE_ONLY = ["\u200b\u200d\ufeff", "\ud800", " \udfff\u2060 "]


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero-width space
        "\u200c\u200d",  # zero-width non-joiner and joiner
        "\ufeff",  # byte-order mark
        "\u2060\u00ad",  # word joiner, soft hyphen
        "\u200e\u200f\u202e\u2066",  # direction marks, override, isolate
        "\x00\x07\x1b",  # control characters
        " \u200b\n\t\u3000\ufeff ",  # invisible characters among whitespace
    ],
)
def test_a_message_of_only_invisible_characters_is_refused_as_empty(invisible: str) -> None:
    assert inbound.check_message(invisible) == inbound.CheckedMessage("", inbound.EMPTY_MESSAGE_REPLY)


@pytest.mark.parametrize("surrogates", ["\ud800", "\udfff", "\udc00\ud83d", " \ud83d "])
def test_a_message_of_only_lone_surrogates_is_refused_as_empty(surrogates: str) -> None:
    assert inbound.check_message(surrogates).refusal == inbound.EMPTY_MESSAGE_REPLY


def test_a_lone_surrogate_never_reaches_the_assistant() -> None:
    checked = inbound.check_message("is ketamine\ud800 safe?\udc00")
    assert checked == inbound.CheckedMessage("is ketamine safe?")
    checked.text.encode("utf-8")  # a lone surrogate would raise UnicodeEncodeError


def test_zero_width_characters_inside_words_are_removed_so_the_words_can_be_read() -> None:
    assert inbound.check_message("\ufeffI want to k\u200bi\u200dll myself").text == "I want to kill myself"


def test_text_is_put_in_nfc_after_invisible_characters_are_removed() -> None:
    assert inbound.check_message("cafe\u0301").text == "caf\u00e9"
    assert inbound.check_message("cafe\u200b\u0301").text == "caf\u00e9"
    assert inbound.check_message(unicodedata.normalize("NFD", "Ühlich Überweisung")).text == "Ühlich Überweisung"


def test_visible_text_is_kept_as_written_apart_from_surrounding_whitespace() -> None:
    for text in ["שלום, האם יש טיפול בעברית?", "Is it safe? 😀👍🏽", "<b>bold</b> & 'quotes'", "line one\nline\ttwo"]:
        assert inbound.check_message(f"  {text}\n ") == inbound.CheckedMessage(text)


def test_the_length_limit_counts_visible_characters() -> None:
    longest = "x" * inbound.MAX_MESSAGE_CHARACTERS
    assert inbound.check_message(longest).text == longest
    assert inbound.check_message(f"\u200b{longest}\u200b  ").text == longest
    assert inbound.check_message(longest + "y").refusal == inbound.TOO_LONG_REPLY


def test_a_huge_message_is_refused_as_too_long_before_it_is_normalised() -> None:
    huge = "\u200b" * (inbound.MAX_RAW_CHARACTERS + 1)
    assert inbound.check_message(huge).refusal == inbound.TOO_LONG_REPLY
    assert inbound.check_message("why " * 1_000_000).refusal == inbound.TOO_LONG_REPLY


@pytest.mark.parametrize("not_text", [None, 42, 4.2, True, ["a", "list"], {"text": "hi"}, b"bytes"])
def test_anything_but_text_is_refused_as_not_text(not_text: object) -> None:
    assert inbound.check_message(not_text) == inbound.CheckedMessage("", inbound.NOT_TEXT_REPLY)


def test_refusal_for_says_what_check_message_says() -> None:
    assert inbound.refusal_for("\u200b") == inbound.EMPTY_MESSAGE_REPLY
    assert inbound.refusal_for("hello") is None


# The same check on the website chat and on Messenger, against the real servers


def _user_texts(database_url: str, sender: str) -> List[str]:
    return [json.loads(data)["text"] for kind, data in stored_events(database_url, sender) if kind == "user"]


async def test_the_website_chat_answers_invisible_only_and_lone_surrogate_messages_as_empty_and_reads_the_rest_normalised(
    channels_assistant: RunningAssistant, demo_origin: str
) -> None:
    socket = ChatSocket(channels_assistant.rasa_url, demo_origin)
    try:
        session_id = await socket.open()
        for text in INVISIBLE_ONLY:
            assert texts(await socket.say(text)) == inbound.EMPTY_MESSAGE_REPLY
        assert await socket.say("\ufeffis keta\u200bmine safe?\ud800")
    finally:
        await socket.close()
    assert _user_texts(channels_assistant.database_url, session_id) == ["is ketamine safe?"]


def test_messenger_answers_invisible_only_and_lone_surrogate_messages_as_empty_and_reads_the_rest_normalised(
    messenger: MessengerWebhook, psid: str
) -> None:
    for text in INVISIBLE_ONLY:
        assert messenger.say(psid, text) == [{"text": inbound.EMPTY_MESSAGE_REPLY}]
    assert messenger.say(psid, "\ufeffis keta\u200bmine safe?\ud800")
    assert _user_texts(messenger.database_url, psid) == ["is ketamine safe?"]
