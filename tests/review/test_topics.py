"""The therapist reads every topic by a human title and picks the right one from those."""

from pathlib import Path

from assistant import settings
from review.topics import CONVERSATION_GROUP, NEW_QUESTION, QUESTIONS_GROUP, load_topics
from review.training_data import intent_names


def test_every_intent_and_faq_topic_of_the_domain_has_a_human_title() -> None:
    topics = load_topics(settings.domain_files())

    for label in intent_names(settings.domain_files()):
        assert topics.title(label) != label, f"{label} has no title in data/topics.yml"


def test_faq_topics_are_offered_by_their_button_titles() -> None:
    topics = load_topics(settings.domain_files())
    offered = {choice.label: choice.title for choice in topics.groups[QUESTIONS_GROUP]}

    assert offered["faq/safety"] == "Is it safe?"
    assert set(offered) == {f"faq/{topic}" for topic in settings.topic_titles()}


def test_intents_a_plain_example_cannot_teach_are_not_offered() -> None:
    topics = load_topics(settings.domain_files())
    offered = {choice.label for group in topics.groups.values() for choice in group}

    assert {"book_consultation", "medical_question", "crisis"} <= offered
    assert not offered & {"inform", "choose_topic", "correct_booking", "nlu_fallback", NEW_QUESTION}
    assert topics.offered(NEW_QUESTION) and topics.new_question.title.startswith("None of these")
    assert not topics.offered("inform") and not topics.offered("made_up")


def test_choices_are_sorted_by_title_within_their_group() -> None:
    topics = load_topics(settings.domain_files())

    for group in (QUESTIONS_GROUP, CONVERSATION_GROUP):
        titles = [choice.title.lower() for choice in topics.groups[group]]
        assert titles == sorted(titles)


def test_an_intent_without_a_title_is_shown_by_its_name(tmp_path: Path) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text("intents:\n  - greet\n  - brand_new\n")
    titles = tmp_path / "topics.yml"
    titles.write_text('titles: {}\nintent_titles:\n  greet: "Hello"\nnot_offered: []\n')

    topics = load_topics([domain], titles)

    assert topics.title("greet") == "Hello" and topics.title("brand_new") == "brand_new"
    assert topics.title(None) == "nothing"
