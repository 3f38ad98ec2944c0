"""The load benchmark's arithmetic: lost messages, level figures, stages of a turn, the report section."""

import os
import time
from pathlib import Path
from typing import List

import pytest

from bench import load
from bench.load import (
    AFTER_LAST_ACTION,
    CUSTOM_ACTIONS,
    RASA_ACTIONS,
    RECEIVED_TO_PARSED,
    RESPONSES,
    StoredEvent,
    Turn,
)


def conversation_events(start: float) -> List[StoredEvent]:
    """What the tracker store holds for a two-message conversation of the assistant, timestamps from `start`."""
    return [
        StoredEvent("action", "action_session_start", start),
        StoredEvent("action", "action_listen", start + 0.001),
        StoredEvent("user", None, start + 0.050),
        StoredEvent("action", "utter_greet", start + 0.070),
        StoredEvent("action", "action_listen", start + 0.080),
        StoredEvent("user", None, start + 0.150),
        StoredEvent("action", "action_answer_faq", start + 0.230),
        StoredEvent("action", "action_listen", start + 0.240),
    ]


def test_a_message_missing_from_the_store_is_lost() -> None:
    assert load.lost_messages({"a": 5, "b": 5}, {"a": 5, "b": 3}) == 2


def test_a_conversation_stored_twice_does_not_hide_one_that_lost_messages() -> None:
    assert load.lost_messages({"a": 5, "b": 5}, {"a": 10, "b": 3}) == 2


def test_a_sender_with_nothing_stored_lost_every_message() -> None:
    assert load.lost_messages({"a": 5}, {}) == 5


def test_stored_messages_are_the_user_events_of_each_sender() -> None:
    stored = load.stored_per_sender({"a": conversation_events(0.0), "b": []})
    assert stored == {"a": 2, "b": 0}


def test_level_figures_count_failed_turns_as_sent_but_not_answered() -> None:
    turns = [Turn("a", "hello", 0.0, 0.1, True), Turn("a", "is it safe?", 0.1, 0.4, True),
             Turn("b", "hello", 0.0, 60.0, False)]
    summary = load.level_summary(turns, wall_seconds=2.0, stored={"a": 2, "b": 0})
    assert summary["messages"] == 2 and summary["errors"] == 1
    assert summary["sent"] == 3 and summary["stored"] == 2 and summary["lost"] == 1
    assert summary["messages_per_second"] == 1.0
    assert summary["p50_ms"] == pytest.approx(200.0) and summary["max_ms"] == pytest.approx(300.0)


def test_a_turn_is_split_into_stages_that_add_up_to_what_the_visitor_waited() -> None:
    turns = [Turn("a", "hello", 0.0, 0.090, True), Turn("a", "what is ketamine assisted therapy?", 0.100, 0.260, True)]
    first, second = load.turn_stages(turns, conversation_events(0.0))
    assert first[RECEIVED_TO_PARSED] == pytest.approx(0.050)
    assert first[RESPONSES] == pytest.approx(0.020)
    assert first[RASA_ACTIONS] == pytest.approx(0.010)
    assert first[AFTER_LAST_ACTION] == pytest.approx(0.010)
    assert second[CUSTOM_ACTIONS] == pytest.approx(0.080) and second[RESPONSES] == 0.0
    for turn, stages in zip(turns, (first, second)):
        assert sum(stages.values()) == pytest.approx(turn.seconds)


def test_turns_are_not_split_when_a_message_is_missing_from_the_store() -> None:
    turns = [Turn("a", "hello", 0.0, 0.09, True), Turn("a", "thanks", 0.1, 0.26, True),
             Turn("a", "bye", 0.3, 0.4, True)]
    assert load.turn_stages(turns, conversation_events(0.0)) == []


def test_mean_stages_add_up_to_the_mean_turn() -> None:
    turns = [Turn("a", "hello", 0.0, 0.090, True), Turn("a", "cost?", 0.100, 0.260, True)]
    means = load.mean_stages_ms(turns, {"a": conversation_events(0.0)})
    assert means["turns"] == 2
    assert sum(means[stage] for stage in load.STAGES) == pytest.approx(125.0, abs=0.5)


def test_the_plan_refuses_a_message_that_yaml_reads_as_a_boolean(tmp_path: Path) -> None:
    plan = tmp_path / "load.yml"
    plan.write_text(
        "levels: [{visitors: 1, conversations_per_visitor: 1}]\nwarm_up_visitors: 1\ntimeout_seconds: 5\n"
        "conversations:\n  moodbot: [hello, yes]\n"
    )
    with pytest.raises(ValueError, match="True"):
        load.Plan.load(plan)


def test_the_assistant_and_moodbot_serve_equally_long_conversations() -> None:
    conversations = load.Plan.load().conversations
    assert len(conversations["assistant"]) == len(conversations["moodbot"])


def test_the_load_section_is_replaced_and_the_other_sections_kept() -> None:
    readme = "# Benchmark\n\n## Questions\n\nfigures\n\n## Load\n\nold run\n\n## Training\n\nmore\n"
    updated = load.replace_section(readme, "## Load\n\nnew run\n")
    assert "old run" not in updated and updated.count("## Load") == 1
    assert updated.index("## Questions") < updated.index("new run") < updated.index("## Training")
    assert updated.endswith("## Training\n\nmore\n")


def test_the_load_section_is_appended_to_a_readme_without_one() -> None:
    updated = load.replace_section("# Benchmark\n\n## Questions\n", "## Load\n\nnew run\n")
    assert updated == "# Benchmark\n\n## Questions\n\n## Load\n\nnew run\n"


def test_the_cpu_time_a_process_spends_is_counted_for_it() -> None:
    labels = load.labelled_processes([])
    before = load.cpu_snapshot(labels)
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    after = load.cpu_snapshot(labels)
    used = load.cpu_by_process(before, after, messages=10, wall_seconds=1.0)
    assert used[load.LOAD_GENERATOR]["cpu_seconds"] >= 0.25


def test_a_rasa_replica_is_named_by_its_port() -> None:
    command = ["/work/.venv/bin/python", "-m", "assistant.rasa_server", "run", "--model", "m.tar.gz", "--port", "5090"]
    assert load.process_label(command) == "Rasa :5090"


def test_others_work_is_left_out_of_a_setups_cpu_ceiling() -> None:
    before = (100.0, {1: ("Rasa :5090", 10.0), 2: ("action server :5160", 1.0)})
    after = (150.0, {1: ("Rasa :5090", 30.0), 2: ("action server :5160", 2.0)})
    cpu = load.cpu_by_process(before, after, messages=500, wall_seconds=25.0)
    assert cpu[load.EVERYTHING_ELSE]["cpu_seconds"] == pytest.approx(29.0)
    assert load.own_cpu_ms_per_message(cpu) == pytest.approx(42.0)
    setups = {"single process": {"levels": {"50": {"messages_per_second": 20.0, "cpu": cpu}}}}
    (line,) = load.ceilings(setups)
    assert f"at most {(os.cpu_count() or 1) * 1000 / 42:.0f} messages a second" in line


def test_the_accuracy_report_keeps_the_load_figures_of_the_previous_report() -> None:
    old = "# Benchmark\n\n## Questions\nold figures\n\n## Load\n\n| setup | p95 |\n| cluster | 739 |\n\n## Notes\nold\n"
    section = load.load_section(old)
    assert section == "## Load\n\n| setup | p95 |\n| cluster | 739 |\n"
    rewritten = load.replace_section("# Benchmark\n\n## Questions\nnew figures\n", section)
    assert "new figures" in rewritten and "| cluster | 739 |" in rewritten and "old figures" not in rewritten


def test_a_report_without_load_figures_has_no_section_to_keep() -> None:
    assert load.load_section("# Benchmark\n\n## Questions\n") is None
