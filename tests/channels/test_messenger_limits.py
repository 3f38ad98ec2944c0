"""Any response of the assistant is reshaped to fit Messenger, and nothing is lost on the way."""

import re
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml

from assistant import settings
from channels.messenger_limits import (
    fit_elements,
    fit_text,
    fit_text_with_buttons,
    fit_text_with_quick_replies,
    messenger_length,
    short_title,
    split_text,
)
from tests.channels.messenger_rules import message_text, offered_payloads, offered_titles, problems

SENTENCE = "Ketamine has been used medically for decades, and it isn't right for everyone. "


def _buttons(count: int, title: str = "Option") -> List[Dict[str, str]]:
    return [{"title": f"{title} {n}", "payload": f"/choose_topic{{\"topic\": \"t{n}\"}}"} for n in range(count)]


def _all_text(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(message_text(message) for message in messages)


def test_a_short_text_is_sent_as_it_is() -> None:
    assert fit_text("Hello, and welcome.") == [{"text": "Hello, and welcome."}]


def test_a_long_text_is_split_at_sentence_boundaries_under_2000_characters() -> None:
    text = SENTENCE * 60
    parts = split_text(text)
    assert len(parts) > 1
    assert all(messenger_length(part) <= 2000 for part in parts)
    assert all(part.endswith("everyone.") for part in parts)
    assert " ".join(parts) == text.strip()


def test_line_breaks_inside_a_part_are_kept() -> None:
    text = ("First line of the crisis resources.\n• Call or text 988\n" * 80).strip()
    parts = split_text(text)
    assert all(messenger_length(part) <= 2000 for part in parts)
    assert "\n• Call or text 988\n" in parts[0]
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


def test_a_sentence_longer_than_the_limit_is_split_between_words() -> None:
    text = "word " * 1000
    parts = split_text(text)
    assert all(messenger_length(part) <= 2000 for part in parts)
    assert " ".join(parts).split() == text.split()


def test_a_single_word_longer_than_the_limit_is_cut() -> None:
    link = "https://example.org/" + "a" * 4500
    parts = split_text(link)
    assert [messenger_length(part) for part in parts] == [2000, 2000, 520]
    assert "".join(parts) == link


def test_emoji_count_as_two_characters_as_messenger_counts_them() -> None:
    text = "🙂" * 1500
    parts = split_text(text)
    assert messenger_length(text) == 3000
    assert all(messenger_length(part) <= 2000 for part in parts)
    assert "".join(parts) == text


def test_right_to_left_text_is_split_like_any_other() -> None:
    sentence = "هل الكيتامين آمن؟ نعم، في معظم الحالات. "
    parts = split_text(sentence * 100)
    assert all(messenger_length(part) <= 2000 for part in parts)
    assert " ".join(parts) == (sentence * 100).strip()


def test_blank_text_makes_no_message() -> None:
    assert fit_text("  \n ") == []


@pytest.mark.parametrize(
    "title, expected",
    [
        ("Book a free call", "Book a free call"),
        ("Book a free consultation call", "Book a free…"),
        ("Will I lose control?", "Will I lose control?"),
        ("Supercalifragilisticexpialidocious", "Supercalifragilisti…"),
        ("Ketamine, IFS, and integration", "Ketamine, IFS, and…"),
    ],
)
def test_titles_are_shortened_to_20_characters_on_a_word_boundary(title: str, expected: str) -> None:
    assert short_title(title) == expected
    assert messenger_length(short_title(title)) <= 20


def test_up_to_three_buttons_under_a_short_text_stay_a_button_template() -> None:
    [message] = fit_text_with_buttons("What would you like to know?", _buttons(3))
    payload = message["attachment"]["payload"]
    assert payload["template_type"] == "button"
    assert [b["type"] for b in payload["buttons"]] == ["postback"] * 3
    assert problems(message) == []


def test_four_buttons_become_quick_replies() -> None:
    [message] = fit_text_with_buttons("Shall I send this to Barbara?", _buttons(4))
    assert [reply["title"] for reply in message["quick_replies"]] == [f"Option {n}" for n in range(4)]
    assert problems(message) == []


def test_buttons_under_a_text_too_long_for_a_template_become_quick_replies_on_its_last_part() -> None:
    messages = fit_text_with_buttons(SENTENCE * 60, _buttons(2))
    assert len(messages) > 1
    assert all(problems(message) == [] for message in messages)
    assert "quick_replies" not in messages[0]
    assert len(messages[-1]["quick_replies"]) == 2


def test_more_than_13_options_keep_13_quick_replies_and_write_the_rest_into_the_text() -> None:
    messages = fit_text_with_quick_replies("Pick a topic.", _buttons(16))
    assert all(problems(message) == [] for message in messages)
    assert len(messages[-1]["quick_replies"]) == 13
    assert all(f"Option {n}" in _all_text(messages) for n in (13, 14, 15))


def test_a_link_button_stays_a_link() -> None:
    link = {"title": "Pick a time yourself", "url": "https://booking.example.org/barbara"}
    [template] = fit_text_with_buttons("Book here.", [link])
    assert template["attachment"]["payload"]["buttons"][0] == {
        "type": "web_url", "title": "Pick a time yourself", "url": link["url"],
    }
    messages = fit_text_with_buttons("Book here.", [link, *_buttons(3)])
    assert "https://booking.example.org/barbara" in _all_text(messages)
    assert all(problems(message) == [] for message in messages)


def test_a_payload_too_long_for_messenger_is_offered_as_text_instead() -> None:
    huge = {"title": "Tell me more", "payload": "/inform" + "x" * 1200}
    messages = fit_text_with_buttons("More?", [huge, *_buttons(1)])
    assert all(problems(message) == [] for message in messages)
    assert "Tell me more" in _all_text(messages)
    assert "Tell me more" not in [t for m in messages for t in offered_titles(m)]


def test_buttons_without_text_still_get_a_prompt() -> None:
    [message] = fit_text_with_quick_replies("", _buttons(2))
    assert message["text"] and problems(message) == []


def test_many_cards_with_many_buttons_are_split_into_templates_that_fit() -> None:
    elements = [
        {"title": f"Card {n} " + "with a long title " * 6, "subtitle": "s" * 120, "buttons": _buttons(5)}
        for n in range(7)
    ]
    messages = fit_elements(elements)
    assert all(problems(message) == [] for message in messages)
    cards = [card for m in messages for card in m["attachment"]["payload"]["elements"]]
    assert len(cards) == 14
    assert sum(len(card["buttons"]) for card in cards) == 35


# Every response the assistant can give, with its placeholders filled in generously.

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_FILLERS = {
    "crisis_resources": "\n".join(f"• {line}" for line in settings.practice_profile().crisis_lines),
    "crisis_summary": "; ".join(settings.practice_profile().crisis_lines) + ".",
    "visitor_name": "Maria-Fernanda de los Ángeles Rodríguez",
    "contact": "maria.fernanda.rodriguez@example-mail-provider.org",
    "preferred_times": "Weekday mornings before 10, or Tuesday and Thursday evenings after 6pm",
}


def _domain_responses() -> Iterator[Tuple[str, Dict[str, Any]]]:
    for path in settings.domain_files():
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}
        for name, variations in responses.items():
            for variation in variations:
                yield name, variation


def _filled(text: str) -> str:
    text = _PLACEHOLDER.sub(lambda m: _FILLERS.get(m.group(1), "x" * 40), text)
    return text.replace("{{", "{").replace("}}", "}")


@pytest.mark.parametrize(
    "name, response", list(_domain_responses()), ids=[name for name, _ in _domain_responses()]
)
def test_every_response_of_the_domain_fits_messenger_with_nothing_lost(name: str, response: Dict[str, Any]) -> None:
    text = _filled(response.get("text", ""))
    buttons = [{**b, "payload": _filled(b["payload"])} for b in response.get("buttons") or []]
    messages = fit_text_with_buttons(text, buttons) if buttons else fit_text(text)
    assert messages, name
    assert [p for message in messages for p in problems(message)] == []
    assert re.sub(r"\s+", " ", _all_text(messages)).startswith(re.sub(r"\s+", " ", text.strip()))
    offered = [p for m in messages for p in offered_payloads(m)]
    assert offered == [b["payload"] for b in buttons]
