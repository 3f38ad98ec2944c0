"""The assistant's intents, read from its domain, and the NLU YAML export.

The therapist assigns an unanswered message to one of the intents the assistant
already has (or to an FAQ topic, `faq/<topic>`); the export turns her assignments
into Rasa NLU training data that can be pasted into `data/nlu/` as it is.
"""

import re
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

import yaml

NLU_VERSION = "3.1"
# Rasa reads `[text](entity)`, `[text]{...}` and `[text][...]` as entity markup.
_ENTITY_MARKUP = re.compile(r"\](?=[(\[{])")
_RETRIEVAL_RESPONSE = re.compile(r"^utter_(?P<intent>[A-Za-z0-9_]+/[A-Za-z0-9_]+)$")


def intent_names(domain_files: Sequence[Path]) -> List[str]:
    """The intents of the domain files, with FAQ topics as `faq/<topic>`.

    Retrieval intents are listed by their topics rather than by themselves: an
    example must say which answer it asks for.
    """
    intents: List[str] = []
    topics: List[str] = []
    for file in domain_files:
        content = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for item in content.get("intents") or []:
            intents.append(next(iter(item)) if isinstance(item, dict) else str(item))
        for response in content.get("responses") or {}:
            match = _RETRIEVAL_RESPONSE.match(str(response))
            if match:
                topics.append(match.group("intent"))
    retrieval = {topic.split("/", 1)[0] for topic in topics}
    names = [intent for intent in intents if intent not in retrieval] + topics
    return sorted(dict.fromkeys(names))


def training_example(text: str) -> str:
    """A visitor's message as one plain NLU example: one line, no entity markup."""
    return _ENTITY_MARKUP.sub("] ", " ".join(text.split()))


PASTE_HEADER = (
    "# Examples the therapist assigned in the review app. Add each block to the",
    "# matching file of data/nlu/ (or merge this file there), then run `make train`.",
)


def nlu_yaml(assignments: Iterable[Tuple[str, str]], header: Sequence[str] = PASTE_HEADER) -> str:
    """Rasa NLU YAML for (text, intent) pairs, intents sorted, duplicates dropped."""
    examples: Dict[str, List[str]] = defaultdict(list)
    seen = set()
    for text, intent in assignments:
        example = training_example(text)
        key = (intent, example.lower())
        if example and key not in seen:
            seen.add(key)
            examples[intent].append(example)
    lines = [
        *header,
        f'version: "{NLU_VERSION}"',
        "nlu:",
    ]
    for intent in sorted(examples):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {example}" for example in examples[intent])
    if not examples:
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"
