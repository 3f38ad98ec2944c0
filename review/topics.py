"""The assistant's topics as the therapist names them, and the ones she may pick as right.

The labels are those of the domain (`review.training_data.intent_names`: FAQ
topics as `faq/<topic>`, then the other intents); the titles come from
`data/topics.yml` (the FAQ topics' button titles and `intent_titles` for the
rest). When she marks an answer wrong she picks a title, never an intent name;
"none of these: a new question" stands for the unknown-question intent.
"""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from assistant import settings
from review.constants import UNKNOWN_INTENT
from review.training_data import intent_names

FAQ_PREFIX = "faq/"
NEW_QUESTION = UNKNOWN_INTENT
NEW_QUESTION_TITLE = "None of these: a new question"
QUESTIONS_GROUP = "Questions the assistant answers"
CONVERSATION_GROUP = "Conversation, booking and safety"


@dataclass(frozen=True)
class TopicChoice:
    """One topic she can pick: its label (the value sent) and its title (what she reads)."""

    label: str
    title: str


@dataclass(frozen=True)
class Topics:
    """Titles of every label, and the choices offered, grouped as the page shows them."""

    titles: Dict[str, str]
    groups: Dict[str, List[TopicChoice]]
    new_question: TopicChoice = TopicChoice(NEW_QUESTION, NEW_QUESTION_TITLE)

    def title(self, label: str | None) -> str:
        """The title of a label; the label itself if it has none (an intent the domain lost)."""
        if not label:
            return "nothing"
        return self.titles.get(label, label)

    def offered(self, label: str) -> bool:
        """Whether she may pick this label as the right answer."""
        return label == NEW_QUESTION or any(choice.label == label for group in self.groups.values() for choice in group)


def load_topics(domain_files: Sequence[Path], topics_file: Path = settings.DEFAULT_TOPICS_PATH) -> Topics:
    """The labels of the domain with their titles from `data/topics.yml`.

    Reading the domain's YAML takes longer than most pages, so the result is kept
    until one of the files changes (their modification times are part of the key).
    """
    files = (*domain_files, topics_file)
    stamps = tuple(Path(file).stat().st_mtime_ns for file in files)
    return _read_topics(tuple(Path(file) for file in domain_files), Path(topics_file), stamps)


@functools.lru_cache(maxsize=4)
def _read_topics(domain_files: Tuple[Path, ...], topics_file: Path, _stamps: Tuple[int, ...]) -> Topics:
    faq_titles = settings.topic_titles(topics_file)
    others = settings.intent_titles(topics_file)
    titles: Dict[str, str] = {}
    groups: Dict[str, List[TopicChoice]] = {QUESTIONS_GROUP: [], CONVERSATION_GROUP: []}
    for label in intent_names(domain_files):
        is_faq = label.startswith(FAQ_PREFIX)
        title = faq_titles.get(label[len(FAQ_PREFIX):]) if is_faq else others.titles.get(label)
        titles[label] = title or label
        if label not in others.not_offered and label != NEW_QUESTION:
            groups[QUESTIONS_GROUP if is_faq else CONVERSATION_GROUP].append(TopicChoice(label, titles[label]))
    for label, title in others.titles.items():
        titles.setdefault(label, title)
    for choices in groups.values():
        choices.sort(key=lambda choice: choice.title.lower())
    return Topics(titles, groups)
