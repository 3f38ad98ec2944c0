"""In headless Chromium the therapist marks an answer wrong, picks the topic by its title,
exports the training data and finds the example in the training file.

The conversation is held through the running assistant; the export runs as the
therapist runs it (`python -m review export-training`), into a temporary file,
never into the project's `data/nlu/`. Screenshots go to `tests/artifacts/correction/`.
"""

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from sqlalchemy.engine import Engine

from assistant import settings
from review import audit
from review.tables import answer_corrections
from tests.review.browser_flow import needs_chromium, run_flow
from tests.review.conftest import PASSWORD
from tests.review.servers import RunningReviewApp
from tests.review.test_cli import review_cli
from tests.servers import RunningAssistant

FLOW = Path(__file__).with_name("correction_flow.mjs")
ARTIFACTS = settings.PROJECT_ROOT / "tests" / "artifacts" / "correction"
# Not an example anywhere in data/nlu/, so the export has no reason to leave it out.
QUESTION = "would you take my partner and me for joint sessions on weekends"
RIGHT_TOPIC = "faq/services"
RIGHT_TITLE = "Who Barbara sees"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def corrected(review_app: RunningReviewApp, running_assistant: RunningAssistant, database: Engine) -> dict:
    """Holds the conversation, then runs the browser flow once and returns what it saw."""
    conversation_id = f"review-correction-{uuid.uuid4().hex[:8]}"
    running_assistant.say(conversation_id, QUESTION)
    options = {
        "baseUrl": review_app.url,
        "password": PASSWORD,
        "conversationId": conversation_id,
        "message": QUESTION,
        "topicTitle": RIGHT_TITLE,
        "artifacts": str(ARTIFACTS),
    }
    return {**run_flow(FLOW, options), "conversation_id": conversation_id}


@pytest.fixture(scope="module")
def training_file(corrected: dict, running_assistant: RunningAssistant, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The training data as `python -m review export-training` writes it, into a temporary file."""
    target = tmp_path_factory.mktemp("training") / "therapist_corrections.yml"
    result = review_cli(running_assistant.database_url, "export-training", "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout and "make train" in result.stdout
    return target


def test_the_message_shows_the_topic_it_was_answered_with_by_title_and_its_runner_up(corrected: dict) -> None:
    assert corrected["answeredWith"] and "/" not in corrected["answeredWith"] and "_" not in corrected["answeredWith"]
    assert "answered with" in corrected["understood"] and "%)" in corrected["understood"]
    assert "runner-up" in corrected["understood"]


def test_the_therapist_picks_the_right_topic_by_its_title_and_it_is_stored(corrected: dict, database: Engine) -> None:
    assert corrected["correctedTo"] == RIGHT_TITLE
    assert "correction is saved" in corrected["notice"]
    with database.connect() as connection:
        row = connection.execute(
            sa.select(answer_corrections).where(answer_corrections.c.conversation_id == corrected["conversation_id"])
        ).one()
    assert (row.text, row.corrected_to) == (QUESTION, RIGHT_TOPIC)


def test_the_correction_is_in_the_audit_log_without_the_message(corrected: dict, database: Engine) -> None:
    with database.connect() as connection:
        logged = [e for e in audit.entries(connection, audit.CORRECTION) if e["target"] == corrected["conversation_id"]]
    assert len(logged) == 1
    assert RIGHT_TOPIC in logged[0]["detail"] and QUESTION not in logged[0]["detail"]


def test_the_exported_training_file_holds_the_example_under_its_topic(training_file: Path) -> None:
    data = RasaYAMLReader().reads(training_file.read_text(encoding="utf-8"))
    examples = {(m.get("text"), m.get("intent_response_key") or m.get("intent")) for m in data.intent_examples}

    assert (QUESTION, RIGHT_TOPIC) in examples


def test_the_export_is_recorded_in_the_audit_log(training_file: Path, database: Engine) -> None:
    with database.connect() as connection:
        exports = [e for e in audit.entries(connection, audit.EXPORT) if e["target"] == training_file.name]
    assert exports and exports[-1]["actor"] == audit.COMMAND_LINE


def test_the_insights_plots_load_as_images_without_script(corrected: dict) -> None:
    assert corrected["plotCount"] == 5 and corrected["plotsLoaded"] is True
    assert corrected["dialogs"] == [] and corrected["errors"] == [] and corrected["consoleErrors"] == []
    assert corrected["failedResponses"] == []


def test_each_step_leaves_a_screenshot(corrected: dict) -> None:
    shots = [Path(shot) for shot in corrected["screenshots"]]
    assert len(shots) == 4
    assert all(shot.stat().st_size > 1000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for shot in shots)
