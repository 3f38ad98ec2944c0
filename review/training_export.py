"""`python -m review export-training`: the therapist's teaching, as a training-data file.

Two places hold what she taught the assistant: the unanswered inbox (an intent
given to a message it could not answer) and the transcript's "Wrong answer" (the
topic a message should have had). Both go into one Rasa NLU file under
`data/nlu/`, which `make train` reads with the rest of the training data.

The file accumulates: examples already in it stay, even after their
conversation is deleted or purged (the database forgets them then, the assistant
should not), and the database's newer word on a message replaces the file's. An
example that another file of `data/nlu/` already has is left out: with the same
intent it teaches nothing new, with another it is a contradiction that
`rasa data validate` would refuse, and the export lists it for a person to settle.
"""

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

import yaml
from sqlalchemy.engine import Engine

from assistant.settings import PROJECT_ROOT
from review import queries
from review.corrections import corrected_examples
from review.training_data import nlu_yaml, training_example

NLU_FOLDER = PROJECT_ROOT / "data" / "nlu"
DEFAULT_TARGET = NLU_FOLDER / "therapist_corrections.yml"
HEADER = (
    "# Written by `python -m review export-training` from the therapist's corrections and",
    "# the intents she gave unanswered messages in the review app. Running it again keeps",
    "# these examples and adds new ones; then `make train` and restart (README).",
)
# `[text](entity)`, `[text]{...}` and `[text][...]`: compared by their text alone.
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")

Example = Tuple[str, str]


@dataclass
class TrainingExport:
    """What an export wrote, and what it left out for a person to look at."""

    path: Path
    examples: int = 0
    added: int = 0
    already_trained: int = 0
    conflicts: List[Tuple[str, str, str]] = field(default_factory=list)


def example_key(text: str) -> str:
    """What two examples must share to be the same example: their words, case aside."""
    return " ".join(_ANNOTATION.sub(r"\1", text).split()).lower()


def read_examples(path: Path) -> List[Example]:
    """The (example, intent) pairs of one Rasa NLU YAML file; none if it has no `nlu:`."""
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    pairs: List[Example] = []
    for block in content.get("nlu") or [] if isinstance(content, dict) else []:
        if isinstance(block, dict) and "intent" in block:
            pairs.extend((text, str(block["intent"])) for text in _texts(block.get("examples")))
    return pairs


def _texts(examples: object) -> List[str]:
    """An intent's examples, written either way Rasa reads: a block of `- ` lines, or `- text:` items."""
    if isinstance(examples, list):
        return [str(item["text"]).strip() for item in examples if isinstance(item, dict) and item.get("text")]
    lines = (line.strip() for line in str(examples or "").splitlines())
    return [line[2:].strip() for line in lines if line.startswith("- ") and line[2:].strip()]


def trained_elsewhere(folder: Path, target: Path) -> Dict[str, Set[str]]:
    """Every example of the other NLU files, by key, with the intents it is given there."""
    known: Dict[str, Set[str]] = defaultdict(set)
    for path in sorted(folder.rglob("*.yml")):
        if path.resolve() == target.resolve():
            continue
        for text, intent in read_examples(path):
            known[example_key(text)].add(intent)
    return known


def taught(engine: Engine) -> List[Example]:
    """The inbox's assignments, then the corrections (a correction is her later word)."""
    with engine.connect() as connection:
        return [*queries.assignments(connection), *corrected_examples(connection)]


def merge(kept: Iterable[Example], new: Iterable[Example]) -> Tuple[Dict[str, Example], int]:
    """The file's examples with the database's laid over them; returns them and how many are new."""
    merged: Dict[str, Example] = {}
    for text, intent in kept:
        merged[example_key(text)] = (training_example(text), intent)
    added = 0
    for text, intent in new:
        example = training_example(text)
        key = example_key(example)
        if not key:
            continue
        added += key not in merged
        merged[key] = (example, intent)
    return merged, added


def export_training(engine: Engine, target: Path = DEFAULT_TARGET, folder: Path = NLU_FOLDER) -> TrainingExport:
    """Writes the training-data file (atomically) and says what it holds."""
    report = TrainingExport(target)
    kept = read_examples(target) if target.exists() else []
    merged, report.added = merge(kept, taught(engine))
    elsewhere = trained_elsewhere(folder, target) if folder.is_dir() else {}
    written: List[Example] = []
    for key, (example, intent) in merged.items():
        intents = elsewhere.get(key, set())
        if intent in intents:
            report.already_trained += 1
        elif intents:
            report.conflicts.append((example, intent, ", ".join(sorted(intents))))
        else:
            written.append((example, intent))
    report.examples = len(written)
    _write_atomically(target, nlu_yaml(written, header=HEADER))
    return report


def _write_atomically(path: Path, content: str) -> None:
    """Replaces the file in one step, so `make train` never reads half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)
