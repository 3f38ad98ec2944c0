"""The unknown-question gate: FAQ answers only for questions like their topic's examples."""

from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.unknown_questions import UnknownQuestionGate, calibrate_thresholds

DIMENSIONS = 8


def _direction(index: int, wobble: float = 0.0, seed: int = 0) -> np.ndarray:
    """A unit vector near axis `index`, turned slightly by `wobble`."""
    vector = np.zeros(DIMENSIONS)
    vector[index] = 1.0
    vector += wobble * np.random.default_rng(seed).normal(size=DIMENSIONS)
    return vector / np.linalg.norm(vector)


def _with_sentence_features(message: Message, vector: np.ndarray) -> Message:
    message.add_features(Features(vector.reshape(1, -1), "sentence", "text", "encoder"))
    return message


def _example(text: str, label: str, vector: np.ndarray) -> Message:
    data = {"text": text, "intent": label.split("/")[0]}
    if "/" in label:
        data["intent_response_key"] = label
    return _with_sentence_features(Message(data), vector)


def _prediction(text: str, topic: str, vector: np.ndarray, topic_share: float | None = None) -> Message:
    response = {"intent_response_key": f"faq/{topic}"}
    if topic_share is not None:
        response["confidence"] = topic_share
    return _with_sentence_features(
        Message(
            {
                "text": text,
                "intent": {"name": "faq", "confidence": 0.99},
                "intent_ranking": [{"name": "faq", "confidence": 0.99}],
                "response_selector": {"faq": {"response": response}},
            }
        ),
        vector,
    )


def _training_data() -> TrainingData:
    examples: List[Message] = []
    for seed in range(8):
        examples.append(_example(f"safe {seed}", "faq/safety", _direction(0, 0.15, seed)))
        examples.append(_example(f"cost {seed}", "faq/cost", _direction(1, 0.15, seed + 100)))
        examples.append(_example(f"unknown {seed}", "out_of_scope", _direction(2, 0.15, seed + 200)))
    return TrainingData(training_examples=examples)


def _trained(tmp_path: Path, training_data: TrainingData, config: Dict[str, Any]) -> UnknownQuestionGate:
    """A gate trained, stored and loaded again, as Rasa does."""
    storage = LocalModelStorage(tmp_path)
    resource = Resource("gate")
    gate = UnknownQuestionGate.create(config, storage, resource, ExecutionContext(None, "gate"))
    gate.train(training_data)
    return UnknownQuestionGate.load(config, storage, resource, ExecutionContext(None, "gate"))


@pytest.fixture
def trained_gate(tmp_path: Path) -> UnknownQuestionGate:
    return _trained(tmp_path, _training_data(), {})


def test_a_question_like_its_topics_examples_keeps_its_answer(trained_gate) -> None:
    message = _prediction("is it safe", "safety", _direction(0, 0.1, 999))
    trained_gate.process([message])
    assert message.get("intent")["name"] == "faq"
    assert message.get("unknown_question") is None


def test_an_answer_let_through_carries_how_near_the_gate_came_to_turning_it_away(trained_gate) -> None:
    message = _prediction("is it safe", "safety", _direction(0, 0.1, 999))
    trained_gate.process([message])

    measured = message.get("topic_match")
    assert measured["topic"] == "faq/safety" and measured["similarity"] > measured["threshold"]
    assert measured["unknown_similarity"] < measured["similarity"] and "unknown_margin" in measured
    assert message.get("unknown_question") is None


def test_an_unknown_question_carries_no_topic_match(trained_gate) -> None:
    message = _prediction("do you see couples", "safety", _direction(3, 0.1, 998))
    trained_gate.process([message])

    assert message.get("topic_match") is None and message.get("unknown_question") is not None


def test_a_question_unlike_its_topics_examples_becomes_unknown(trained_gate) -> None:
    message = _prediction("do you see couples", "safety", _direction(3, 0.1, 998))
    trained_gate.process([message])
    assert message.get("intent") == {"name": "out_of_scope", "confidence": 1.0}
    assert message.get("unknown_question")["topic"] == "faq/safety"
    assert message.get("unknown_question")["close_topics"] == []


def test_a_question_closer_to_the_unknown_examples_than_to_its_topic_becomes_unknown(trained_gate) -> None:
    between = _direction(0) * 0.6 + _direction(2) * 0.8
    message = _prediction("can I drive home after", "safety", between / np.linalg.norm(between))
    trained_gate.process([message])
    assert message.get("intent")["name"] == "out_of_scope"


def test_close_topics_are_offered_only_when_genuinely_close(trained_gate) -> None:
    near_cost = _direction(1) * 0.8 + _direction(3) * 0.6
    message = _prediction("fees for couples?", "safety", near_cost / np.linalg.norm(near_cost))
    trained_gate.process([message])
    assert message.get("unknown_question")["close_topics"] == ["cost"]


def test_buttons_and_other_intents_pass_untouched(trained_gate) -> None:
    payload = _prediction('/choose_topic{"topic": "safety"}', "safety", _direction(3))
    greeting = _with_sentence_features(Message({"text": "hi", "intent": {"name": "greet"}}), _direction(3))
    trained_gate.process([payload, greeting])
    assert payload.get("intent")["name"] == "faq"
    assert greeting.get("intent")["name"] == "greet"


def test_a_topic_the_classifier_is_sure_of_is_not_questioned(tmp_path: Path) -> None:
    gate = _trained(tmp_path, _training_data(), {"sure_from": 0.8})
    sure = _prediction("do you see couples", "safety", _direction(3, 0.1, 998), topic_share=0.95)
    unsure = _prediction("do you see couples", "safety", _direction(3, 0.1, 998), topic_share=0.6)
    gate.process([sure, unsure])
    assert sure.get("intent")["name"] == "faq" and sure.get("topic_match")["topic"] == "faq/safety"
    assert unsure.get("intent")["name"] == "out_of_scope"


def test_with_a_second_encoder_the_meaning_decides_where_the_first_tells_nothing(tmp_path: Path) -> None:
    """MiniLM's part is the same vector for every line here: only all-mpnet-base-v2 can tell them apart."""
    same = _direction(0)
    lines = {
        "faq/cost": ["how much does a session cost", "what are your fees", "what do you charge per hour"],
        "out_of_scope": ["can I bring my dog to the office", "is there parking nearby", "do you sell gift cards"],
    }
    examples = [_example(text, label, same) for label, texts in lines.items() for text in texts]
    gate = _trained(tmp_path, TrainingData(training_examples=examples), {"second_encoder": "build/mpnet"})

    price = _prediction("what's the price of an appointment", "cost", same)
    pet = _prediction("may my puppy come along to sessions", "cost", same)
    gate.process([price, pet])
    assert price.get("intent")["name"] == "faq"
    assert pet.get("intent")["name"] == "out_of_scope"


def test_a_tight_topic_gets_a_higher_threshold_than_a_broad_one() -> None:
    tight = np.stack([_direction(0, 0.05, seed) for seed in range(10)])
    broad = np.stack([_direction(1, 0.6, seed) for seed in range(10)])
    labels = np.array(["faq/tight"] * 10 + ["faq/broad"] * 10)
    thresholds = calibrate_thresholds(np.vstack([tight, broad]), labels, neighbours=3, quantile=0.05, floor=0.0)
    assert thresholds["faq/tight"] > thresholds["faq/broad"]


def test_the_floor_bounds_every_threshold_from_below() -> None:
    vectors = np.stack([_direction(i % DIMENSIONS) for i in range(6)])
    thresholds = calibrate_thresholds(vectors, np.array(["faq/x"] * 6), neighbours=3, quantile=0.05, floor=0.35)
    assert thresholds["faq/x"] == 0.35
