"""The question classifier: it re-decides DIET's question labels and nothing else."""

import pickle
import zlib
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.question_classifier import NeighbourVote, QuestionClassifier

DIMENSIONS = 32

LINES: Dict[str, List[str]] = {
    "faq/cost": [
        "how much does a session cost", "what are your fees", "is there a sliding scale",
        "how much is it per session", "what do you charge", "price of a ketamine session",
        "how expensive is the therapy", "what does the whole programme cost",
    ],
    "faq/safety": [
        "is ketamine safe", "what are the risks of ketamine", "is ketamine addictive",
        "are there side effects", "can ketamine hurt my bladder", "is it dangerous",
        "what are the dangers", "how safe is ketamine therapy",
    ],
    "out_of_scope": [
        "do you validate parking", "can i pay with a gift card", "what is the capital of france",
        "is there wheelchair access", "do you write letters for my employer", "can you recommend a podcast",
        "where can i buy ketamine online", "can you refill my prescription",
    ],
    "affirm": ["yes", "yes please", "sure", "ok", "that's right", "correct", "yep", "absolutely"],
    "crisis": [
        "i want to die", "i can't go on", "i want to end my life", "everyone would be better off without me",
        "i have a plan to kill myself", "i don't want to be here anymore", "there's no point living", "i'm going to hurt myself",
    ],
}


def _sentence(text: str) -> np.ndarray:
    """A stand-in sentence embedding: hashed words, so similar wording gives similar vectors."""
    vector = np.zeros(DIMENSIONS)
    for word in text.lower().split():
        vector[zlib.crc32(word.encode()) % DIMENSIONS] += 1.0
    return vector / (np.linalg.norm(vector) or 1.0)


def _with_sentence_features(message: Message) -> Message:
    message.add_features(Features(_sentence(message.get("text")).reshape(1, -1), "sentence", "text", "encoder"))
    return message


def _training_data() -> TrainingData:
    examples = []
    for label, texts in LINES.items():
        for text in texts:
            data = {"text": text, "intent": label.split("/")[0]}
            if "/" in label:
                data["intent_response_key"] = label
            examples.append(_with_sentence_features(Message(data)))
    responses = {"utter_faq/cost": [{"text": "The fees are..."}], "utter_faq/safety": [{"text": "Safety..."}]}
    return TrainingData(training_examples=examples, responses=responses)


def _parsed(text: str, diet_label: str, confidence: float = 0.99, crisis: float = 0.0) -> Message:
    """A message as DIET and the response selector leave it."""
    intent = diet_label.split("/")[0]
    ranking = [{"name": intent, "confidence": confidence}]
    if crisis:
        ranking.append({"name": "crisis", "confidence": crisis})
    data = {"text": text, "intent": {"name": intent, "confidence": confidence}, "intent_ranking": ranking}
    if "/" in diet_label:
        data["response_selector"] = {"faq": {"response": {"intent_response_key": diet_label}, "ranking": []}}
    return _with_sentence_features(Message(data))


def _label(message: Message) -> str:
    intent = message.get("intent")["name"]
    if intent != "faq":
        return intent
    return message.get("response_selector")["faq"]["response"]["intent_response_key"]


@pytest.fixture
def classifier(tmp_path: Path) -> QuestionClassifier:
    """Trained, stored and loaded again, as Rasa runs it."""
    storage = LocalModelStorage(tmp_path)
    resource = Resource("questions")
    trained = QuestionClassifier.create({}, storage, resource, ExecutionContext(None, "questions"))
    trained.train(_training_data())
    return QuestionClassifier.load({}, storage, resource, ExecutionContext(None, "questions"))


def test_a_question_diet_gave_the_wrong_topic_gets_the_topic_its_words_ask_about(classifier) -> None:
    (message,) = classifier.process([_parsed("how much do you charge per session", "faq/safety")])
    assert _label(message) == "faq/cost"
    selected = message.get("response_selector")["faq"]
    assert selected["response"]["utter_action"] == "utter_faq/cost"
    assert selected["response"]["responses"] == [{"text": "The fees are..."}]
    assert selected["ranking"][0]["intent_response_key"] == "faq/cost"
    assert message.get("intent_ranking")[0]["name"] == "faq"


def test_an_unknown_question_diet_answered_with_a_topic_becomes_unknown(classifier) -> None:
    (message,) = classifier.process([_parsed("is there wheelchair access or parking", "faq/cost")])
    assert _label(message) == "out_of_scope"


def test_the_ranking_holds_calibrated_probabilities_best_first(classifier) -> None:
    (message,) = classifier.process([_parsed("is ketamine addictive", "faq/cost")])
    ranking = message.get("intent_ranking")
    confidences = [entry["confidence"] for entry in ranking]
    assert ranking[0] == message.get("intent") and confidences == sorted(confidences, reverse=True)
    assert 0.0 < confidences[0] <= 1.0 and sum(confidences) <= 1.0 + 1e-9


def test_a_conversation_intent_stays_diet_s(classifier) -> None:
    (message,) = classifier.process([_parsed("yes how much does it cost", "affirm")])
    assert _label(message) == "affirm"
    assert message.get("response_selector") is None


def test_a_crisis_reading_both_models_share_is_left_to_the_safety_net(classifier) -> None:
    as_crisis, as_runner_up = classifier.process(
        [_parsed("i want to die", "crisis"), _parsed("i want to end my life, is it safe", "faq/cost", 0.7, 0.2)]
    )
    assert _label(as_crisis) == "crisis"
    assert _label(as_runner_up) == "faq/cost"
    assert as_runner_up.get("intent_ranking")[1] == {"name": "crisis", "confidence": 0.2}
    assert as_crisis.get("crisis_second_opinion") is None


def _read_as_crisis(text: str, confidence: float) -> Message:
    """DIET's first reading is `crisis`, with the rest of its ranking after it."""
    message = _parsed(text, "crisis", confidence)
    rest = [{"name": "faq", "confidence": 0.9 * (1 - confidence)}, {"name": "affirm", "confidence": 0.1 * (1 - confidence)}]
    message.set("intent_ranking", message.get("intent_ranking") + rest)
    return message


def test_a_crisis_reading_only_diet_saw_is_replaced_and_the_question_decided(classifier) -> None:
    as_crisis, as_runner_up = classifier.process(
        [_read_as_crisis("how much does a session cost", 0.8), _parsed("is ketamine safe", "faq/cost", 0.7, 0.2)]
    )
    assert _label(as_crisis) == "faq/cost" and _label(as_runner_up) == "faq/safety"
    for message, diet in ((as_crisis, 0.8), (as_runner_up, 0.2)):
        crisis = [entry["confidence"] for entry in message.get("intent_ranking") if entry["name"] == "crisis"]
        second_opinion = message.get("crisis_second_opinion")
        assert second_opinion["diet"] == diet and second_opinion["question_model"] < 0.15
        assert all(confidence < 0.15 for confidence in crisis)


def test_without_a_second_opinion_diet_s_crisis_reading_stands(tmp_path: Path) -> None:
    storage, resource, config = LocalModelStorage(tmp_path), Resource("questions"), {"crisis_second_opinion": None}
    trained = QuestionClassifier.create(config, storage, resource, ExecutionContext(None, "questions"))
    trained.train(_training_data())
    (message,) = trained.process([_read_as_crisis("how much does a session cost", 0.8)])
    assert _label(message) == "crisis" and message.get("crisis_second_opinion") is None


def test_a_crisis_only_this_model_saw_is_ranked_for_the_safety_net_under_a_question_label(classifier) -> None:
    (message,) = classifier.process([_parsed("i want to die", "out_of_scope", 0.9, 0.05)])
    assert _label(message) != "crisis"
    crisis = [entry["confidence"] for entry in message.get("intent_ranking") if entry["name"] == "crisis"]
    second_opinion = message.get("crisis_second_opinion")
    assert second_opinion["diet"] == 0.05 and second_opinion["question_model"] >= 0.5
    assert crisis == [pytest.approx(second_opinion["question_model"], abs=1e-3)]


def test_a_crisis_diet_read_as_a_conversation_intent_keeps_that_intent_and_is_ranked_for_the_safety_net(
    classifier,
) -> None:
    (message,) = classifier.process([_parsed("i want to die", "affirm", 0.9, 0.05)])
    assert _label(message) == "affirm"
    crisis = [entry["confidence"] for entry in message.get("intent_ranking") if entry["name"] == "crisis"]
    assert crisis == [pytest.approx(message.get("crisis_second_opinion")["question_model"], abs=1e-3)]
    assert crisis[0] >= 0.5


def test_an_ordinary_conversation_message_keeps_diet_s_ranking(classifier) -> None:
    (message,) = classifier.process([_parsed("yes please", "affirm", 0.9, 0.05)])
    expected = [{"name": "affirm", "confidence": 0.9}, {"name": "crisis", "confidence": 0.05}]
    assert message.get("intent_ranking") == expected
    assert message.get("crisis_second_opinion") is None


def test_an_ordinary_question_keeps_diet_s_crisis_score(classifier) -> None:
    (message,) = classifier.process([_parsed("what are your fees", "out_of_scope", 0.9, 0.05)])
    crisis = [entry for entry in message.get("intent_ranking") if entry["name"] == "crisis"]
    assert crisis == [{"name": "crisis", "confidence": 0.05}]
    assert message.get("crisis_second_opinion") is None


def test_without_raising_diet_s_low_crisis_score_stands(tmp_path: Path) -> None:
    storage, resource, config = LocalModelStorage(tmp_path), Resource("questions"), {"raise_crisis_from": None}
    trained = QuestionClassifier.create(config, storage, resource, ExecutionContext(None, "questions"))
    trained.train(_training_data())
    (message,) = trained.process([_parsed("i want to die", "out_of_scope", 0.9, 0.05)])
    crisis = [entry for entry in message.get("intent_ranking") if entry["name"] == "crisis"]
    assert crisis == [{"name": "crisis", "confidence": 0.05}] and message.get("crisis_second_opinion") is None


def test_a_question_the_fallback_was_unsure_of_is_decided(classifier) -> None:
    message = _parsed("what are your fees", "faq/safety", 0.3)
    message.set("intent", {"name": "nlu_fallback", "confidence": 0.4})
    message.set("intent_ranking", [{"name": "nlu_fallback", "confidence": 0.4}, {"name": "faq", "confidence": 0.3}])
    (decided,) = classifier.process([message])
    assert _label(decided) == "faq/cost"


def test_buttons_pass_untouched(classifier) -> None:
    (message,) = classifier.process([_parsed("/choose_topic", "faq/safety")])
    assert _label(message) == "faq/safety"


def test_an_untrained_component_leaves_every_message_alone(tmp_path: Path) -> None:
    untrained = QuestionClassifier.load({}, LocalModelStorage(tmp_path), Resource("none"), ExecutionContext(None, "q"))
    (message,) = untrained.process([_parsed("how much do you charge", "faq/safety")])
    assert _label(message) == "faq/safety"


def test_with_a_second_encoder_a_paraphrase_sharing_no_word_finds_its_topic(tmp_path: Path) -> None:
    config = {"second_encoder": "build/mpnet"}
    storage, resource = LocalModelStorage(tmp_path), Resource("questions")
    trained = QuestionClassifier.create(config, storage, resource, ExecutionContext(None, "questions"))
    trained.train(_training_data())
    loaded = QuestionClassifier.load(config, storage, resource, ExecutionContext(None, "questions"))
    (message,) = loaded.process([_parsed("what would i be paying", "faq/safety")])
    assert _label(message) == "faq/cost"


def test_the_neighbours_vote_goes_mostly_to_the_closest_lines_label() -> None:
    texts = LINES["faq/cost"] + LINES["faq/safety"]
    labels = ["faq/cost"] * len(LINES["faq/cost"]) + ["faq/safety"] * len(LINES["faq/safety"])
    vote = NeighbourVote(np.stack([_sentence(t) for t in texts]), labels, neighbours=4, sharpness=20.0)
    shares = vote.shares(_sentence("what are your fees per session"))
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares.get("faq/cost", 0.0) > 0.5


def test_the_stored_vote_is_read_back_and_the_probabilities_still_sum_to_one(classifier) -> None:
    model = classifier._model
    assert model.neighbours is not None and model.neighbours.vectors.dtype == np.float32
    probabilities = model.probabilities("is there a sliding scale", _sentence("is there a sliding scale"))
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)


def test_with_no_vote_the_probabilities_are_the_linear_model_s_alone(tmp_path: Path) -> None:
    storage, resource = LocalModelStorage(tmp_path), Resource("questions")
    trained = QuestionClassifier.create({"neighbour_vote": 0}, storage, resource, ExecutionContext(None, "q"))
    trained.train(_training_data())
    assert trained._model.neighbours is None


def test_a_model_stored_before_the_vote_existed_still_answers(classifier) -> None:
    model = classifier._model
    del model.__dict__["neighbours"], model.__dict__["vote_weight"]
    restored = pickle.loads(pickle.dumps(model))
    assert restored.neighbours is None
    assert restored.probabilities("what are your fees", _sentence("what are your fees"))
