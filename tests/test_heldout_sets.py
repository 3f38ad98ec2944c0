"""The held-out sets measure what they claim: never trained on, large enough, sources recorded."""

import re
import warnings
from pathlib import Path
from typing import List
from urllib.parse import urlparse

import pytest
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from assistant.settings import PROJECT_ROOT, topic_titles

TESTS = Path(__file__).parent
HELDOUT = TESTS / "heldout"
HELDOUT_FILES = [TESTS / "nlu_holdout.yml", *sorted(HELDOUT.glob("*.yml"))]
REAL_QUESTION_FILES = sorted(HELDOUT.glob("visitors_*.yml"))


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _examples(*paths: Path) -> List[Message]:
    return [m for path in paths for m in load_data(str(path)).intent_examples]


def _source_site(message: Message) -> str:
    """The site a line comes from, `www.` aside; a line written after a page ("variant of <url>") counts as it."""
    source = str(((message.get("metadata") or {}).get("example") or {}).get("source") or "")
    address = re.search(r"https?://\S+", source)
    return urlparse(address.group(0)).netloc.lower().removeprefix("www.") if address else ""


@pytest.fixture(scope="module")
def training() -> List[Message]:
    return _examples(PROJECT_ROOT / "data" / "nlu")


@pytest.mark.parametrize("path", HELDOUT_FILES, ids=lambda p: p.name)
def test_every_held_out_file_reads_without_a_skipped_block(path: Path) -> None:
    """Rasa only warns of a malformed block (an intent left without examples) and skips it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UserWarning, module="rasa")
        assert _examples(path)


@pytest.mark.parametrize("path", HELDOUT_FILES, ids=lambda p: p.name)
def test_no_held_out_message_is_in_the_training_data(path: Path, training) -> None:
    texts = {_normalised(m.get("text")) for m in training}
    assert not [m.get("text") for m in _examples(path) if _normalised(m.get("text")) in texts]


@pytest.mark.parametrize("path", sorted(HELDOUT.glob("*.yml")), ids=lambda p: p.name)
def test_no_site_gives_lines_to_both_training_and_a_held_out_set(path: Path, training) -> None:
    """By site, not page: another page of the same FAQ or forum shares its writers' phrasing."""
    training_sites = {_source_site(m) for m in training} - {""}
    assert not [m.get("text") for m in _examples(path) if _source_site(m) in training_sites]


@pytest.mark.parametrize("path", sorted(HELDOUT.glob("*.yml")), ids=lambda p: p.name)
def test_every_real_held_out_message_records_its_source(path: Path) -> None:
    assert all(((m.get("metadata") or {}).get("example") or {}).get("source") for m in _examples(path))


def test_the_held_out_sets_are_large_enough() -> None:
    assert len(_examples(TESTS / "nlu_holdout.yml")) >= 200
    assert len(_examples(*REAL_QUESTION_FILES)) >= 300
    assert len(_examples(HELDOUT / "open_set.yml")) >= 100


def test_every_topic_has_held_out_real_questions() -> None:
    labels = {m.get("intent_response_key") or m.get("intent") for m in _examples(*REAL_QUESTION_FILES)}
    assert {f"faq/{topic}" for topic in topic_titles()} <= labels


def test_the_safety_set_has_every_kind_of_message() -> None:
    kinds = [((m.get("metadata") or {}).get("example") or {}).get("safety") for m in _examples(HELDOUT / "safety.yml")]
    for kind, minimum in (("acute", 50), ("idiom", 30), ("sensitive", 30), ("medical", 40)):
        assert kinds.count(kind) >= minimum, kind
