"""The intents offered come from the domain; the export is NLU data Rasa reads as it is."""

from pathlib import Path

import yaml
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from assistant import settings
from review.training_data import intent_names, nlu_yaml


def domain_intents() -> set:
    intents = set()
    for file in settings.domain_files():
        for item in (yaml.safe_load(file.read_text()) or {}).get("intents") or []:
            intents.add(next(iter(item)) if isinstance(item, dict) else item)
    return intents


def test_every_intent_of_the_domain_is_offered_with_faq_topics_instead_of_faq() -> None:
    names = intent_names(settings.domain_files())

    assert domain_intents() - {"faq"} <= set(names)
    assert "faq" not in names
    assert "faq/safety" in names
    assert names == sorted(set(names))


def test_faq_topics_come_from_the_response_files_beside_the_domain(tmp_path: Path) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text("intents:\n  - greet\n  - faq:\n      use_entities: []\n")
    responses = tmp_path / "faq.yml"
    responses.write_text("responses:\n  utter_faq/cost:\n    - text: x\n")
    assert intent_names([domain, responses]) == ["faq/cost", "greet"]


def test_the_export_reads_back_as_the_same_examples_and_intents() -> None:
    assignments = [
        ("do you accept medicare", "faq/insurance"),
        ("Do you accept Medicare", "faq/insurance"),
        ("do you accept medicare", "faq/insurance"),
        ("hiya", "greet"),
    ]
    document = nlu_yaml(assignments)
    data = RasaYAMLReader().reads(document)

    examples = sorted((message.get("text"), message.get("intent_response_key") or message.get("intent"))
                      for message in data.intent_examples)
    assert examples == [("do you accept medicare", "faq/insurance"), ("hiya", "greet")]


def test_text_that_looks_like_markup_or_spans_lines_stays_one_plain_example() -> None:
    tricky = "see [this](link) and [that]{\"entity\": \"x\"}\nsecond line: # not a comment"
    data = RasaYAMLReader().reads(nlu_yaml([(tricky, "greet")]))

    [message] = data.intent_examples
    assert message.get("entities") in (None, [])
    assert message.get("text") == 'see [this] (link) and [that] {"entity": "x"} second line: # not a comment'


def test_an_empty_export_is_still_valid_nlu_data() -> None:
    data = RasaYAMLReader().reads(nlu_yaml([]))
    assert data.intent_examples == []
