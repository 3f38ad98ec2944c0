"""`python -m review export-training`: one file of what the therapist taught, kept across exports."""

from pathlib import Path

from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from review.training_data import nlu_yaml
from review.training_export import HEADER, example_key, merge, read_examples, trained_elsewhere


def write_nlu(path: Path, pairs: list) -> Path:
    path.write_text(nlu_yaml(pairs), encoding="utf-8")
    return path


def test_examples_read_back_from_both_ways_rasa_writes_them(tmp_path: Path) -> None:
    block = write_nlu(tmp_path / "block.yml", [("how much is it", "faq/cost")])
    items = tmp_path / "items.yml"
    items.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples:\n  - text: "hey there"\n    metadata: {}\n')

    assert read_examples(block) == [("how much is it", "faq/cost")]
    assert read_examples(items) == [("hey there", "greet")]


def test_the_files_examples_stay_and_the_databases_newer_word_replaces_them() -> None:
    kept = [("do you see couples", "faq/services"), ("is it covered", "faq/cost")]
    new = [("Is it covered", "faq/insurance"), ("blorf", "out_of_scope")]

    merged, added = merge(kept, new)

    assert sorted(merged.values()) == [("Is it covered", "faq/insurance"), ("blorf", "out_of_scope"),
                                       ("do you see couples", "faq/services")]
    assert added == 1


def test_examples_other_files_hold_are_known_by_their_words_not_their_markup(tmp_path: Path) -> None:
    folder = tmp_path / "nlu"
    folder.mkdir()
    (folder / "booking.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: inform\n  examples: |\n    - my name is [Sam](visitor_name)\n'
    )
    target = write_nlu(folder / "therapist_corrections.yml", [("only here", "greet")])

    known = trained_elsewhere(folder, target)

    assert known[example_key("My name is  Sam")] == {"inform"}
    assert example_key("only here") not in known


def test_the_written_file_is_rasa_nlu_data_with_a_header_saying_where_it_comes_from() -> None:
    document = nlu_yaml([("do you do couples therapy", "faq/services"), ("new thing", "out_of_scope")], header=HEADER)
    data = RasaYAMLReader().reads(document)

    assert document.startswith(HEADER[0])
    assert {(m.get("text"), m.get("intent_response_key") or m.get("intent")) for m in data.intent_examples} == {
        ("do you do couples therapy", "faq/services"),
        ("new thing", "out_of_scope"),
    }
