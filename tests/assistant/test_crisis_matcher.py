"""The safety net catches explicit danger phrases and leaves ordinary messages alone."""

from pathlib import Path

import pytest
import spacy
from rasa.shared.nlu.training_data.message import Message

from assistant.crisis_matcher import CrisisPhraseRules, CrisisSafetyNet
from assistant.settings import PROJECT_ROOT

PHRASES = PROJECT_ROOT / "data" / "safety" / "crisis_phrases.yml"


@pytest.fixture(scope="module")
def rules() -> CrisisPhraseRules:
    """The shipped rules, compiled with the blank English pipeline `make setup` builds."""
    return CrisisPhraseRules.from_file(spacy.load(PROJECT_ROOT / "build" / "spacy_en"), PHRASES)


@pytest.mark.parametrize(
    "message",
    [
        "I want to kill myself",
        "im thinking about killing myself tonight",
        "I don't want to live anymore",
        "i dont want to be alive",
        "I can’t go on like this",
        "everyone would be better off without me",
        "I've been saving up my pills",
        "I took all of my pills",
        "I cut myself again last night",
        "my husband hits me and I'm scared to go home",
        "I want to end my life",
        "I have thoughts of suicide",
        "kms",
    ],
)
def test_an_explicit_danger_phrase_is_caught_in_any_word_form(rules, message: str) -> None:
    assert rules.first_match(message) is not None


@pytest.mark.parametrize(
    "message",
    [
        "can you overdose on ketamine?",
        "I'm dying to try it",
        "this waitlist is killing me",
        "my last therapist killed my trust",
        "I would never hurt myself, I'm just curious",
        "I'm not suicidal, just depressed",
        "is there any danger in taking ketamine?",
        "what are the risks?",
        "if I'm going to be late, can I still come in?",
        "can i still take all my meds the morning of the session?",
        "",
        "   ",
        "?!",
    ],
)
def test_an_ordinary_message_with_alarming_words_is_left_to_the_classifier(rules, message: str) -> None:
    assert rules.first_match(message) is None


@pytest.mark.parametrize(
    "message",
    ["her deadpan humour cracks me up", "shoot me an email when the form is ready", "go knock em dead tomorrow",
     "the deadline at work is brutal", "that second reminder was overkill"],
)
def test_an_everyday_saying_with_a_dead_or_kill_word_is_an_idiom(rules, message: str) -> None:
    assert rules.assess(message).idiom is not None


@pytest.mark.parametrize("message", ["my life is a dead end", "i'm just dead weight to my family"])
def test_a_saying_that_can_tell_of_hopelessness_or_being_a_burden_is_no_idiom(rules, message: str) -> None:
    assert rules.assess(message).idiom is None


@pytest.mark.parametrize(
    "message",
    ["never. this is goodbye", "i can't! this is goodbye", "Sorry, no. Goodbye forever"],
)
def test_a_negation_in_the_sentence_before_does_not_cancel_a_danger_phrase(rules, message: str) -> None:
    assert rules.first_match(message) is not None


@pytest.mark.parametrize("message", ["i can't... go on", "i can’t… go on anymore"])
def test_an_ellipsis_does_not_break_a_danger_phrase_in_two(rules, message: str) -> None:
    assert rules.first_match(message) is not None


def test_an_empty_phrase_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "phrases.yml"
    empty.write_text("phrases: []\n")
    with pytest.raises(ValueError, match="no crisis phrases"):
        CrisisPhraseRules.from_file(spacy.blank("en"), empty)


def _net(rules: CrisisPhraseRules) -> CrisisSafetyNet:
    return CrisisSafetyNet({**CrisisSafetyNet.get_default_config()}, rules)


def test_a_matched_message_becomes_crisis_whatever_the_classifier_said(rules) -> None:
    message = Message({"text": "i am going to hang myself", "intent": {"name": "faq", "confidence": 0.9}})
    _net(rules).process([message])
    assert message.get("intent") == {"name": "crisis", "confidence": 1.0}
    assert message.get("safety_net") == {
        "reason": "phrase", "phrase": "hang myself", "classifier_intent": "faq",
    }


def test_an_unsure_classifier_leaning_to_crisis_still_gives_crisis(rules) -> None:
    message = Message(
        {
            "text": "everything feels pointless and heavy",
            "intent": {"name": "nlu_fallback", "confidence": 0.4},
            "intent_ranking": [
                {"name": "nlu_fallback", "confidence": 0.4},
                {"name": "crisis", "confidence": 0.35},
                {"name": "faq", "confidence": 0.3},
            ],
        }
    )
    _net(rules).process([message])
    assert message.get("intent")["name"] == "crisis"
    assert message.get("safety_net")["reason"] == "classifier_below_threshold"


def test_a_button_payload_is_never_taken_for_a_crisis(rules) -> None:
    message = Message({"text": '/choose_topic{"topic": "safety"}', "intent": {"name": "choose_topic"}})
    _net(rules).process([message])
    assert message.get("intent")["name"] == "choose_topic"


@pytest.fixture(scope="module")
def graded_rules() -> CrisisPhraseRules:
    """A small rule set with every list, to show how the lists work together."""
    return CrisisPhraseRules(
        spacy.load(PROJECT_ROOT / "build" / "spacy_en"),
        phrases=["kill myself", "suicidal", "want to die", "kill * someone"],
        negations=["not", "never", "no"],
        idioms=["killing me", "kill for", "dying to"],
        not_acute=["suicidal in college", "years ago", "my * die by suicide"],
        sensitive=["suicide", "overdose"],
    )


@pytest.mark.parametrize(
    "message, level",
    [
        ("I want to die", "acute"),
        ("I'm suicidal", "acute"),
        ("I'm going to kill someone at work", "acute"),
        ("I was suicidal in college, am I a candidate?", "sensitive"),
        ("I tried to kill myself years ago, can IFS help?", "sensitive"),
        ("I was suicidal years ago and now I want to die again", "acute"),
        ("my brother died by suicide, can this help with grief?", "sensitive"),
        ("can you overdose on ketamine?", "sensitive"),
        ("this waitlist is killing me", None),
        ("I'd kill for a sliding scale", None),
        ("I'm dying to try it", None),
        ("I'm not suicidal", None),
    ],
)
def test_messages_are_graded_acute_sensitive_or_ordinary(graded_rules, message: str, level) -> None:
    assert graded_rules.assess(message).level == level


def test_a_sensitive_mention_keeps_the_classifiers_answer_and_is_noted(graded_rules) -> None:
    message = Message({"text": "my brother died by suicide, can IFS help?", "intent": {"name": "faq", "confidence": 0.9}})
    _net(graded_rules).process([message])
    assert message.get("intent")["name"] == "faq"
    assert message.get("safety_net") is None
    assert message.get("sensitive_mention") == {"phrase": "suicide"}


def test_a_crisis_verdict_of_the_classifier_stands_without_an_explicit_context(graded_rules) -> None:
    message = Message({"text": "overdose is on my mind all the time", "intent": {"name": "crisis", "confidence": 0.9}})
    _net(graded_rules).process([message])
    assert message.get("intent")["name"] == "crisis"
    assert message.get("sensitive_mention") is None


def test_a_crisis_verdict_of_the_classifier_yields_to_a_told_history(graded_rules) -> None:
    message = Message(
        {
            "text": "I was suicidal in college, am I a candidate?",
            "intent": {"name": "crisis", "confidence": 0.8},
            "intent_ranking": [
                {"name": "crisis", "confidence": 0.8},
                {"name": "nlu_fallback", "confidence": 0.1},
                {"name": "faq", "confidence": 0.15},
            ],
        }
    )
    _net(graded_rules).process([message])
    assert message.get("intent") == {"name": "faq", "confidence": 0.15}
    assert message.get("sensitive_mention") == {
        "phrase": "suicidal", "context": "suicidal in college", "classifier_intent": "crisis",
    }
    assert message.get("safety_net") is None


def _classified_as_crisis(text: str, *ranking: tuple) -> Message:
    """A message the classifier called a crisis, with its runners-up."""
    entries = [{"name": "crisis", "confidence": 0.8}] + [{"name": n, "confidence": c} for n, c in ranking]
    return Message({"text": text, "intent": dict(entries[0]), "intent_ranking": entries})


def test_an_idiom_overrules_the_classifiers_crisis_and_the_next_intent_answers(graded_rules) -> None:
    message = _classified_as_crisis("I'm dying to know what a session feels like", ("faq", 0.6))
    _net(graded_rules).process([message])
    assert message.get("intent")["name"] == "faq"
    assert message.get("everyday_idiom") == {"idiom": "dying to", "classifier_intent": "crisis"}
    assert message.get("safety_net") is None


def test_an_idiom_with_no_likely_next_intent_becomes_an_unknown_question(graded_rules) -> None:
    message = _classified_as_crisis("this queue is killing me", ("faq", 0.1))
    _net(graded_rules).process([message])
    assert message.get("intent")["name"] == "out_of_scope"


def test_an_idiom_never_hides_a_danger_phrase_elsewhere_in_the_message(graded_rules) -> None:
    message = _classified_as_crisis("this wait is killing me and I want to die", ("faq", 0.6))
    _net(graded_rules).process([message])
    assert message.get("intent")["name"] == "crisis"
    assert message.get("everyday_idiom") is None


def test_an_idiom_beside_a_sensitive_word_keeps_the_classifiers_crisis(graded_rules) -> None:
    message = _classified_as_crisis("the overdose news is killing me", ("faq", 0.6))
    _net(graded_rules).process([message])
    assert message.get("intent")["name"] == "crisis"


def test_the_shipped_idioms_never_touch_a_crisis_line_of_the_training_data(rules) -> None:
    """No crisis example the assistant learned from holds a listed idiom, so the idiom can overrule."""
    from rasa.shared.nlu.training_data.loading import load_data

    crisis_lines = [
        m.get("text") for m in load_data(str(PROJECT_ROOT / "data" / "nlu")).intent_examples if m.get("intent") == "crisis"
    ]
    assert crisis_lines
    assert [text for text in crisis_lines if rules.assess(text).idiom is not None] == []


def test_crisis_as_the_classifiers_serious_second_reading_gives_crisis(graded_rules) -> None:
    message = Message(
        {
            "text": "nothing feels worth it lately",
            "intent": {"name": "faq", "confidence": 0.6},
            "intent_ranking": [{"name": "faq", "confidence": 0.6}, {"name": "crisis", "confidence": 0.3}],
        }
    )
    _net(graded_rules).process([message])
    assert message.get("intent")["name"] == "crisis"
    assert message.get("safety_net")["reason"] == "classifier_runner_up"


def test_a_faint_crisis_reading_or_a_told_history_keeps_the_answer(graded_rules) -> None:
    faint = Message(
        {
            "text": "how long is a session?",
            "intent": {"name": "faq", "confidence": 0.9},
            "intent_ranking": [{"name": "faq", "confidence": 0.9}, {"name": "crisis", "confidence": 0.05}],
        }
    )
    history = Message(
        {
            "text": "my brother died by suicide, can IFS help?",
            "intent": {"name": "faq", "confidence": 0.6},
            "intent_ranking": [{"name": "faq", "confidence": 0.6}, {"name": "crisis", "confidence": 0.35}],
        }
    )
    _net(graded_rules).process([faint, history])
    assert faint.get("intent")["name"] == "faq"
    assert history.get("intent")["name"] == "faq"
    assert history.get("sensitive_mention") is not None
