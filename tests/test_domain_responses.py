"""The answers in `domain.yml` and `data/responses/`: cited word for word, short, and fit for every channel."""

import re
from typing import Dict, Iterator, List, Tuple

import pytest
import yaml

from actions.practice_text import PROFILE_TOPIC_FIELDS
from assistant.settings import PROJECT_ROOT, domain_files, topic_titles

SOURCES = PROJECT_ROOT / "data" / "sources"
CITATION = re.compile(r"From the practice's writing: “(?P<passage>.+)”\s*$", re.DOTALL)
PROFILE_MARK = "From the practice's details."
MAX_FAQ_ANSWER = 600
MESSENGER_TEXT_LIMIT = 2000
MESSENGER_TITLE_LIMIT = 20
MESSENGER_QUICK_REPLIES = 13


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _responses() -> Dict[str, List[dict]]:
    responses: Dict[str, List[dict]] = {}
    for path in domain_files():
        responses.update(yaml.safe_load(path.read_text()).get("responses") or {})
    return responses


def _variations() -> Iterator[Tuple[str, dict]]:
    for name, variations in _responses().items():
        for variation in variations:
            yield name, variation


def _source_text() -> str:
    return _collapse(" ".join(p.read_text() for p in sorted(SOURCES.glob("*.txt"))))


FAQ_ANSWERS = [(n, v) for n, v in _variations() if n.startswith("utter_faq/")]
DOCUMENT_TOPICS = sorted(set(topic_titles()) - set(PROFILE_TOPIC_FIELDS))
# Answered from how the practice runs this chat (the notice, the retention period).
CHAT_TOPICS = ["chat_privacy"]


def test_the_sources_are_the_practice_texts_kept_in_the_project() -> None:
    assert len(list(SOURCES.glob("*.txt"))) == 2
    assert "Ketamine is not the treatment." in _source_text()


@pytest.mark.parametrize("topic", DOCUMENT_TOPICS)
def test_every_document_topic_has_an_answer_that_cites_a_passage(topic: str) -> None:
    variations = _responses()[f"utter_faq/{topic}"]
    for variation in variations:
        match = CITATION.search(variation["text"])
        assert match or topic in CHAT_TOPICS, f"{topic} has no citation"


@pytest.mark.parametrize("topic", CHAT_TOPICS)
def test_a_topic_about_this_chat_is_answered_from_the_practice_details(topic: str) -> None:
    for variation in _responses()[f"utter_faq/{topic}"]:
        assert variation["text"].endswith(PROFILE_MARK) and "{retention_days}" in variation["text"]


@pytest.mark.parametrize("name, variation", FAQ_ANSWERS + [
    (n, v) for n, v in _variations() if n.startswith("utter_unpublished_")
])
def test_every_cited_passage_is_found_word_for_word_in_the_sources(name: str, variation: dict) -> None:
    match = CITATION.search(variation["text"])
    if match is None:
        assert PROFILE_MARK in variation["text"] or name.startswith("utter_unpublished_"), name
        return
    assert _collapse(match.group("passage")) in _source_text(), name


@pytest.mark.parametrize("name, variation", FAQ_ANSWERS)
def test_every_faq_answer_is_short_and_ends_with_next_step_buttons(name: str, variation: dict) -> None:
    assert len(variation["text"]) <= MAX_FAQ_ANSWER, name
    payloads = [button["payload"] for button in variation.get("buttons") or []]
    assert "/book_consultation" in payloads, name


@pytest.mark.parametrize("topic", sorted(PROFILE_TOPIC_FIELDS))
def test_every_profile_topic_has_an_answer_for_an_empty_field(topic: str) -> None:
    responses = _responses()
    assert f"utter_faq/{topic}" in responses
    text = responses[f"utter_unpublished_{topic}"][0]["text"]
    assert "consultation call" in text
    assert "/book_consultation" in [b["payload"] for b in responses[f"utter_unpublished_{topic}"][0]["buttons"]]


@pytest.mark.parametrize("name, variation", list(_variations()))
def test_every_response_fits_messenger(name: str, variation: dict) -> None:
    assert len(variation.get("text", "")) <= MESSENGER_TEXT_LIMIT, name
    buttons = variation.get("buttons") or []
    assert len(buttons) <= MESSENGER_QUICK_REPLIES, name
    for button in buttons:
        assert len(button["title"]) <= MESSENGER_TITLE_LIMIT, (name, button["title"])


def test_topic_buttons_name_topics_that_exist() -> None:
    topics = set(topic_titles())
    for name, variation in _variations():
        for button in variation.get("buttons") or []:
            found = re.search(r'"topic": "(\w+)"', button["payload"])
            if found:
                assert found.group(1) in topics, (name, button["payload"])


def test_topic_titles_fit_messenger() -> None:
    assert all(len(title) <= MESSENGER_TITLE_LIMIT for title in topic_titles().values())


def test_no_answer_gives_doses_or_medication_advice() -> None:
    forbidden = re.compile(r"\b(\d+\s?mg|milligram|dose of|you should (stop|start|take))\b", re.I)
    for name, variation in _variations():
        assert not forbidden.search(variation.get("text", "")), name


def _catalogue_intents() -> List[str]:
    catalogue = PROJECT_ROOT / "data" / "topics.md"
    return re.findall(r"^\| `([a-z_/]+)` \|", catalogue.read_text(), re.MULTILINE)


def test_every_intent_of_the_catalogue_is_in_the_training_data() -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    known = set(data.intents) | {f"faq/{t}" for t in topic_titles()} | {"nlu_fallback"}
    full_intents = {m.get("intent_response_key") or m.get("intent") for m in data.intent_examples}
    missing = [i for i in _catalogue_intents() if i not in known]
    assert not missing
    assert {f"faq/{t}" for t in topic_titles()} <= full_intents


def test_training_data_has_enough_examples_for_every_intent() -> None:
    from collections import Counter

    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    counts = Counter(m.get("intent_response_key") or m.get("intent") for m in data.intent_examples)
    for intent, count in counts.items():
        minimum = 20 if intent.startswith("faq/") else 15
        if intent != "choose_topic":
            assert count >= minimum, intent
