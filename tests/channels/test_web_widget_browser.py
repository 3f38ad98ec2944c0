"""The website chat as a visitor uses it: the demo page in headless Chromium, the real assistant behind it.

Each test runs one scenario of `widget_visitor.mjs` (playwright-core driving Debian's
Chromium, see tests/browser/) and checks what the visitor saw. `make test` installs
Chromium and the npm packages and builds the widget first.
"""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import sqlalchemy as sa

from assistant import settings
from tests.channels.conftest import BOOKING_LINK
from tests.servers import RunningAssistant

VISITOR_SCRIPT = Path(__file__).with_name("widget_visitor.mjs")
WIDGET_BUNDLE = settings.PROJECT_ROOT / "web" / "dist" / "practice-chat.js"
BROWSER_TOOLS = settings.PROJECT_ROOT / "tests" / "browser" / "node_modules" / "playwright-core"

Visit = Callable[[str], Dict[str, Any]]


@pytest.fixture
def visit(demo_page_url: str, artifacts_dir: Path) -> Visit:
    """Plays one visitor scenario in Chromium and returns what the visitor saw."""
    missing = [
        what
        for what, there in [
            ("Chromium (make browser-deps)", Path("/usr/bin/chromium").exists()),
            ("playwright-core (make browser-deps)", BROWSER_TOOLS.exists()),
            ("the widget bundle (make web)", WIDGET_BUNDLE.exists()),
            ("node", shutil.which("node") is not None),
        ]
        if not there
    ]
    if missing:
        pytest.fail("the browser tests need " + ", ".join(missing) + "; `make test` installs them")

    def run(scenario: str) -> Dict[str, Any]:
        finished = subprocess.run(
            ["node", str(VISITOR_SCRIPT), scenario, demo_page_url, str(artifacts_dir)],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=settings.PROJECT_ROOT,
        )
        if finished.returncode != 0:
            pytest.fail(f"the visitor's {scenario} scenario failed:\n{finished.stderr[-5000:]}")
        return json.loads(finished.stdout.strip().splitlines()[-1])

    return run


def test_a_visitor_asks_books_and_finds_the_conversation_after_a_reload(visit: Visit) -> None:
    seen = visit("ask_book_and_reload")

    assert seen["noticeVisible"]
    for part in ("automated assistant", "not for emergencies", "988", "stored"):
        assert part in seen["notice"]
    assert seen["typingShown"]
    assert any("From the practice's writing: “" in line for line in seen["answer"])
    assert "Book a free call" in seen["answerButtons"]
    assert "doesn't look like an email address" in seen["invalidEmailAnswer"]
    assert seen["consentButtons"] == ["Yes, that's OK", "No"]
    assert "Jordan Lee" in seen["confirmation"] and "jordan@example.com" in seen["confirmation"]
    assert seen["confirmationButtons"] == ["Yes, send it", "Change name", "Change contact", "Change times"]
    assert seen["link"] == {"href": BOOKING_LINK, "target": "_blank", "rel": "noopener noreferrer"}
    assert Path(seen["screenshot"]).stat().st_size > 10_000

    assert seen["afterReload"] == seen["before"]
    assert seen["sessionAfterReload"] == seen["sessionBefore"]
    assert seen["tokenBefore"].startswith(seen["sessionBefore"] + ".")
    assert seen["afterReopening"][: len(seen["before"])] == seen["before"]
    assert any("Internal Family Systems" in line for line in seen["afterReopening"][len(seen["before"]) :])
    assert all(host.startswith("127.0.0.1:") for host in seen["hosts"]), seen["hosts"]
    assert seen["dialogs"] == []


def test_a_browser_with_a_stolen_id_and_a_made_up_token_gets_its_own_new_conversation(visit: Visit) -> None:
    seen = visit("stolen_session")
    assert seen["thiefSession"] and seen["thiefSession"] != seen["victimSession"]
    assert seen["thiefToken"] != seen["forgedToken"]
    assert "automated assistant" in seen["thiefTranscript"][0]
    assert not any("what name" in line or "How can she reach you" in line for line in seen["thiefTranscript"])
    assert "visitor: Jordan" not in seen["victimTranscript"], "the other browser wrote into the visitor's chat"
    assert any("How can she reach you" in line for line in seen["victimTranscript"])


def test_keyboard_alone_opens_the_chat_asks_presses_a_reply_and_closes_it(visit: Visit) -> None:
    seen = visit("keyboard_only")
    assert seen["tabsToLauncher"] == 1
    assert seen["launcherOutline"] == "3px"
    assert seen["focusAfterOpening"] == "pc-input"
    assert seen["focusAfterShiftTab"] == "Book a free call"
    assert "what name should she use" in seen["afterPressing"][-1]
    assert not seen["panelOpenAfterEscape"]
    assert seen["focusAfterEscape"].startswith("Chat with")


def test_the_chat_fits_a_375_pixel_wide_phone(visit: Visit) -> None:
    seen = visit("phone_screen")
    assert seen["panel"] == {"x": 0, "y": 0, "width": 375, "height": 667}
    assert seen["pageScrollWidth"] <= 375
    assert seen["widestMessage"] <= 375
    for control in ("input", "send"):
        box = seen[control]
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 667
    assert not seen["launcherVisible"], "the bubble would cover the send button"
    assert Path(seen["screenshot"]).exists()


def test_html_is_shown_as_text_and_never_run_and_emoji_and_arabic_are_shown_as_typed(visit: Visit) -> None:
    seen = visit("unsafe_text")
    assert seen["sendDisabledWhenBlank"]
    assert seen["visitorTexts"] == [
        '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold?</b>',
        "😀🙏 is ketamine safe? 🌿",
        "هل العلاج بالكيتامين آمن؟",
    ]
    assert seen["elementsInMessages"] == []
    assert seen["pwned"] is None and seen["dialogs"] == []
    assert seen["rtlDirection"] == "rtl/auto"
    assistant_lines = [line for line in seen["transcript"] if line.startswith("assistant:")]
    assert len(assistant_lines) >= 5, "each message got an answer"


def test_start_over_clears_the_conversation_and_begins_a_new_one(visit: Visit) -> None:
    seen = visit("start_over")
    assert seen["sessionAfter"] and seen["sessionAfter"] != seen["sessionBefore"]
    assert "automated assistant" in seen["afterStartOver"][0]
    assert not any("what name" in line for line in seen["afterStartOver"])
    assert not any("How can she reach you" in line for line in seen["afterName"])


def test_every_control_has_a_name_and_text_has_readable_contrast(visit: Visit) -> None:
    seen = visit("labels_and_contrast")
    snapshot = seen["ariaSnapshot"]
    for expected in (
        'dialog "Barbara Bennett Psychotherapy"',
        'button "Start over"',
        'button "Close chat"',
        'log "Conversation"',
        'group "Suggested replies"',
        'textbox "Your message"',
        'button "Send"',
    ):
        assert expected in snapshot
    low = {part: ratio for part, ratio in seen["contrast"].items() if ratio < (3 if part == "launcher" else 4.5)}
    assert low == {}, f"below WCAG AA: {low}"


def stored_event_texts(database_url: str, conversation_id: str) -> List[str]:
    """The texts of every stored visitor and assistant message of a conversation."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :id AND type_name IN ('user', 'bot')"),
                {"id": conversation_id},
            ).scalars()
            return [json.loads(row).get("text") or "" for row in rows]
    finally:
        engine.dispose()


def test_a_visitor_deletes_the_conversation_from_the_menu_and_starts_afresh(
    visit: Visit, channels_assistant: RunningAssistant
) -> None:
    seen = visit("delete_from_menu")
    assert seen["menuItems"] == ["Email me a copy", "Delete this conversation"]
    assert "delete this conversation?" in seen["confirmation"]
    assert seen["confirmButtons"] == ["Yes, delete it", "No, keep it"]
    assert len(seen["afterDeletion"]) == 1 and "has been deleted" in seen["afterDeletion"][0]
    assert len(seen["storedMessages"]) == 1 and "has been deleted" in seen["storedMessages"][0]
    assert seen["sessionAfter"] == seen["session"]
    assert any("automated assistant" in line for line in seen["afterNextMessage"])
    stored = stored_event_texts(channels_assistant.database_url, seen["session"])
    assert "hello" in stored and "is ketamine safe?" not in stored
    assert not any("has been deleted" in text for text in stored)

