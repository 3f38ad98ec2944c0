"""Chooses the unknown-question gate's settings on the training data alone, never the held-out sets.

`python -m bench.tune_gate` (after `make setup`). Real visitors' training lines
(those whose metadata names a web page) are split by source page into folds. For
each fold, the gate is calibrated on every other training line and asked about the
fold's lines: an in-scope line should keep its topic (as if the classifier had
found it), an unknown question should be turned away (as if the classifier had
picked the topic closest to it). The grid's figures are printed; `config.yml`
takes the setting that turns away the most unknown questions while keeping at
least `KEEP_TARGET` of the in-scope ones.
"""

import itertools
import sys
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

import numpy as np

from assistant.parse_keys import UNKNOWN_INTENT
from assistant.settings import PROJECT_ROOT
from assistant.unknown_questions import TopicExamples, calibrate_thresholds
from bench.run import minilm_embeddings

FOLDS = 4
KEEP_TARGET = 0.97
QUANTILES = (0.0, 0.02, 0.05, 0.1, 0.2)
FLOORS = (0.25, 0.3, 0.35, 0.4, 0.45)
MARGINS = (-0.05, 0.0, 0.05, 0.1)
NEIGHBOURS = 3


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


def decisions(
    examples: TopicExamples, vectors: np.ndarray, labels: Sequence[str], margin: float
) -> List[bool]:
    """Whether the gate keeps each dev line's topic (the true one, or the closest for unknowns)."""
    kept = []
    for vector, label in zip(vectors, labels):
        similarities = examples.topic_similarities(vector, NEIGHBOURS)
        topic = label if label.startswith("faq/") else max(similarities, key=similarities.get)
        own = similarities.get(topic, 0.0)
        unknown = examples.similarity(vector, UNKNOWN_INTENT, NEIGHBOURS)
        kept.append(own >= examples.thresholds.get(topic, 0.0) and unknown <= own + margin)
    return kept


def main() -> int:
    """Prints keep and turn-away rates for every setting of the grid, best first."""
    lines = labelled_lines()
    vectors = minilm_embeddings([text for text, _label, _page in lines])
    labels = np.array([label for _text, label, _page in lines], dtype=str)
    folds = np.array([fold_of(page) if page else -1 for _text, _label, page in lines])
    tally: Dict[Tuple[float, float, float], List[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for fold in range(FOLDS):
        train, dev = folds != fold, folds == fold
        dev_faq = dev & np.char.startswith(labels, "faq/")
        dev_unknown = dev & (labels == UNKNOWN_INTENT)
        for quantile, floor in itertools.product(QUANTILES, FLOORS):
            thresholds = calibrate_thresholds(vectors[train], labels[train], NEIGHBOURS, quantile, floor)
            examples = TopicExamples(vectors[train], labels[train], thresholds)
            for margin in MARGINS:
                kept = decisions(examples, vectors[dev_faq], labels[dev_faq].tolist(), margin)
                unknown = decisions(examples, vectors[dev_unknown], labels[dev_unknown].tolist(), margin)
                turned = [not k for k in unknown]
                counts = tally[(quantile, floor, margin)]
                counts[0] += sum(kept)
                counts[1] += len(kept)
                counts[2] += sum(turned)
                counts[3] += len(turned)
    rates = [
        (kept / max(n_in, 1), turned / max(n_out, 1), setting)
        for setting, (kept, n_in, turned, n_out) in tally.items()
    ]
    rows = sorted(
        rates,
        key=lambda row: (row[0] >= KEEP_TARGET, row[1]),
        reverse=True,
    )
    print("quantile floor margin | in-scope kept | unknown turned away")
    for keep, turn, (quantile, floor, margin) in rows:
        print(f"{quantile:8} {floor:5} {margin:6} | {keep:.3f} | {turn:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
