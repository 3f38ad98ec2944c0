"""The gate tuner's scoring: the same decision as the gate, and only settings nothing beats."""

import numpy as np

from assistant.unknown_questions import TopicExamples
from bench.tune_gate import best_front, gated, rates


def _examples() -> TopicExamples:
    vectors = np.eye(3)[[0, 0, 1, 1]]
    labels = np.array(["faq/cost", "faq/cost", "out_of_scope", "out_of_scope"])
    return TopicExamples(vectors, labels, {"faq/cost": 0.5, "out_of_scope": 0.5})


def test_an_answer_unlike_its_topic_is_turned_away_unless_the_classifier_is_sure() -> None:
    unlike = np.eye(3)[[2, 2]]
    labels = gated(_examples(), unlike, ["faq/cost", "faq/cost"], np.array([0.9, 0.5]), margin=0.0, sure_from=0.8)
    assert labels == ["faq/cost", "out_of_scope"]


def test_an_answer_like_its_topic_and_other_labels_pass() -> None:
    vectors = np.eye(3)[[0, 2]]
    labels = gated(_examples(), vectors, ["faq/cost", "book_consultation"], np.array([0.3, 0.3]), 0.0, 1.01)
    assert labels == ["faq/cost", "book_consultation"]


def test_rates_count_right_answers_other_topics_and_unknowns_answered() -> None:
    truth = ["faq/cost", "faq/cost", "faq/safety", "out_of_scope", "out_of_scope"]
    answered = ["faq/cost", "out_of_scope", "faq/cost", "faq/cost", "out_of_scope"]
    assert rates(truth, answered) == (1 / 3, 1 / 3, 0.5)


def test_the_best_front_drops_a_setting_another_beats_on_both_counts() -> None:
    results = {
        (0.0, 0.4, 0.0, 0.7): (0.87, 0.04, 0.12),
        (0.0, 0.35, 0.05, 1.01): (0.86, 0.05, 0.14),
        (0.0, 0.5, 0.0, 1.01): (0.83, 0.04, 0.10),
    }
    assert [setting for setting, _ in best_front(results)] == [(0.0, 0.5, 0.0, 1.01), (0.0, 0.4, 0.0, 0.7)]
