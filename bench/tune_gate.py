"""Chooses the unknown-question gate's settings on the training data alone, never the held-out sets.

`python -m bench.tune_gate` (after `make setup`; 10 to 20 minutes on 2 cores). Real
visitors' training lines (those whose metadata names a web page) are split by source
page into folds. For each fold, the pipeline's question model is trained on every
other training line and picks a label for each of the fold's questions, as it would
for a visitor; the gate, calibrated on the same other lines, then judges each FAQ
answer. Every setting of the grid is scored over all folds: the in-scope questions
answered right, those given another topic's answer, and the unknown questions
(`out_of_scope`) answered with a topic anyway. `config.yml` takes a setting on the
best front of those: fewer unknown questions answered without losing right answers.
"""

import itertools
import sys
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import numpy as np

from assistant.build_models import MPNET_DIR
from assistant.mpnet_encoder import JoinedEmbeddings
from assistant.parse_keys import UNKNOWN_INTENT
from assistant.question_classifier import QuestionClassifier, QuestionModel, is_question
from assistant.settings import PROJECT_ROOT
from assistant.unknown_questions import RETRIEVAL_INTENT, TopicExamples, calibrate_thresholds, measure, turns_away
from bench.run import minilm_embeddings

FOLDS = 4
QUANTILES = (0.0, 0.05)
FLOORS = (0.35, 0.4, 0.45, 0.5)
MARGINS = (-0.05, 0.0, 0.05, 0.1)
SURE_FROM = (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)
NEIGHBOURS = 3
Setting = Tuple[float, float, float, float]


def labelled_lines() -> List[Tuple[str, str, str]]:
    """Every training line as (text, label, source page or "")."""
    from rasa.shared.nlu.training_data.loading import load_data

    lines = []
    for message in load_data(str(PROJECT_ROOT / "data" / "nlu")).intent_examples:
        source = str(((message.get("metadata") or {}).get("example") or {}).get("source") or "")
        page = source.removeprefix("variant of ").strip() if "http" in source else ""
        label = message.get("intent_response_key") or message.get("intent")
        if label != "choose_topic":
            lines.append((message.get("text"), label, page))
    return lines


def fold_of(page: str) -> int:
    """A page's fold, stable across runs."""
    return sum(map(ord, page)) % FOLDS


def predicted_questions(
    model: QuestionModel, texts: Sequence[str], sentences: np.ndarray, question_labels: Sequence[str]
) -> Tuple[List[str], np.ndarray]:
    """The question label the model picks for each text, with its probability."""
    labels, probabilities = [], []
    for text, sentence in zip(texts, sentences):
        by_label = model.probabilities(text, sentence)
        best = max((label for label in by_label if is_question(label, question_labels)), key=by_label.get)
        labels.append(best)
        probabilities.append(by_label[best])
    return labels, np.array(probabilities)


def gated(
    examples: TopicExamples, vectors: np.ndarray, picked: Sequence[str], probabilities: np.ndarray,
    margin: float, sure_from: float,
) -> List[str]:
    """The labels after the gate: an FAQ answer it doesn't support becomes an unknown question."""
    labels = []
    for vector, label, probability in zip(vectors, picked, probabilities):
        is_answer = label.startswith(f"{RETRIEVAL_INTENT}/")
        if is_answer and turns_away(measure(examples, vector, label, NEIGHBOURS, 0.0, margin), probability, sure_from):
            label = UNKNOWN_INTENT
        labels.append(label)
    return labels


def rates(truth: Sequence[str], answered: Sequence[str]) -> Tuple[float, float, float]:
    """In-scope questions answered right, in-scope given another topic's answer, unknowns given a topic."""
    truth, answered = np.array(truth), np.array(answered)
    in_scope = truth != UNKNOWN_INTENT
    right = float((answered[in_scope] == truth[in_scope]).mean())
    other_topic = answered[in_scope] != truth[in_scope]
    wrong = float((other_topic & np.char.startswith(answered[in_scope], f"{RETRIEVAL_INTENT}/")).mean())
    unknown_answered = float(np.char.startswith(answered[~in_scope], f"{RETRIEVAL_INTENT}/").mean())
    return right, wrong, unknown_answered


def main() -> int:
    """Prints every setting's rates over all folds, the best front first."""
    config = QuestionClassifier.get_default_config()
    question_labels = config["question_intents"]
    lines = labelled_lines()
    texts = [text for text, _label, _page in lines]
    labels = np.array([label for _text, label, _page in lines], dtype=str)
    folds = np.array([fold_of(page) if page else -1 for _text, _label, page in lines])
    vectors = JoinedEmbeddings(MPNET_DIR).of_lines(texts, minilm_embeddings(texts))
    asked = np.array([is_question(label, question_labels) for label in labels])
    truth: List[str] = []
    ungated: List[str] = []
    answered: Dict[Setting, List[str]] = defaultdict(list)
    for fold in range(FOLDS):
        train, dev = folds != fold, (folds == fold) & asked
        model = QuestionModel(config).fit([texts[i] for i in np.flatnonzero(train)], vectors[train], labels[train])
        dev_texts = [texts[i] for i in np.flatnonzero(dev)]
        picked, probabilities = predicted_questions(model, dev_texts, vectors[dev], question_labels)
        truth += labels[dev].tolist()
        ungated += picked
        for quantile, floor in itertools.product(QUANTILES, FLOORS):
            thresholds = calibrate_thresholds(vectors[train], labels[train], NEIGHBOURS, quantile, floor)
            examples = TopicExamples(vectors[train], labels[train], thresholds)
            for margin, sure_from in itertools.product(MARGINS, SURE_FROM):
                answered[(quantile, floor, margin, sure_from)] += gated(
                    examples, vectors[dev], picked, probabilities, margin, sure_from
                )
    right, wrong, unknown = rates(truth, ungated)
    print(f"{len(truth)} questions; without the gate: right {right:.3f}, other topic {wrong:.3f}, "
          f"unknowns answered {unknown:.3f}")
    print("the best front (no other setting answers more right with no more unknowns answered):")
    print("quantile floor margin sure_from | right | other topic | unknowns answered")
    for (quantile, floor, margin, sure_from), (right, wrong, unknown) in best_front(
        {setting: rates(truth, labels) for setting, labels in answered.items()}
    ):
        print(f"{quantile:8} {floor:5} {margin:6} {sure_from:9} | {right:.3f} | {wrong:.3f} | {unknown:.3f}")
    return 0


def best_front(results: Dict[Setting, Tuple[float, float, float]]) -> List[Tuple[Setting, Tuple[float, float, float]]]:
    """The settings no other beats on both right answers and unknowns answered, fewest unknowns first."""
    front = [
        (setting, result) for setting, result in results.items()
        if not any(o[0] >= result[0] and o[2] <= result[2] and o != result for o in results.values())
    ]
    return sorted(front, key=lambda item: item[1][2])


if __name__ == "__main__":
    sys.exit(main())
