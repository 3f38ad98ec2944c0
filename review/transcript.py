"""Turns a conversation's stored events into what the therapist reads.

Only what helps her judge the conversation is kept: what the visitor wrote and how
the assistant understood it, what the assistant said and which buttons it offered,
which button was pressed, and the steps of the booking form. Bookkeeping events
(action names, featurisation, session starts) are left out.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence

from review.constants import CRISIS_INTENT, CRISIS_SLOT, SAFETY_NET_KEY, SESSION_SLOTS, UNANSWERED_INTENTS
from review.queries import StoredEvent
from review.understanding import Guess, understand

VISITOR = "visitor"
ASSISTANT = "assistant"
STEP = "step"


@dataclass(frozen=True)
class Button:
    """A button the assistant offered."""

    title: str
    payload: str


@dataclass
class TranscriptEntry:
    """One line of the transcript: a visitor message, an assistant message or a form step."""

    kind: str
    timestamp: float
    text: str = ""
    intent: str | None = None
    confidence: float | None = None
    channel: str | None = None
    crisis: bool = False
    unanswered: bool = False
    safety_net_phrase: str | None = None
    pressed: str | None = None
    buttons: List[Button] = field(default_factory=list)
    # Visitor messages: the stored event, and the topic answered with and its runner-up.
    event_id: int | None = None
    answer: Guess | None = None
    runner_up: Guess | None = None
    outcome: str | None = None

    @property
    def correctable(self) -> bool:
        """Whether the therapist can say it was the wrong answer (typed, not a button press)."""
        typed = bool(self.text.strip()) and not self.text.startswith("/") and self.pressed is None
        return self.kind == VISITOR and self.event_id is not None and typed


def build_transcript(events: Sequence[StoredEvent]) -> List[TranscriptEntry]:
    """The transcript of one conversation, in the order things happened."""
    entries: List[TranscriptEntry] = []
    offered: List[Button] = []
    slots: Dict[str, Any] = {}
    form: str | None = None
    for event in events:
        if event.type_name == "user":
            entry = _visitor_entry(event, offered)
            entries.append(entry)
            offered = []
        elif event.type_name == "bot":
            entry = _assistant_entry(event)
            entries.append(entry)
            offered = entry.buttons or offered
        elif event.type_name == "active_loop":
            name = event.data.get("name")
            text = f"Form started: {name}" if name else "Form ended"
            form = name
            entries.append(TranscriptEntry(STEP, event.timestamp, text))
        elif event.type_name == "slot":
            started = any(entry.kind == VISITOR for entry in entries)
            step = _slot_step(event, slots, started=started, in_form=form is not None)
            if step is not None:
                entries.append(step)
    return entries


def _visitor_entry(event: StoredEvent, offered: Sequence[Button]) -> TranscriptEntry:
    text = str(event.data.get("text") or "")
    parse_data = event.data.get("parse_data") or {}
    intent_data = parse_data.get("intent") or {}
    intent = intent_data.get("full_retrieval_intent_name") or intent_data.get("name")
    confidence = intent_data.get("confidence")
    safety_net = parse_data.get(SAFETY_NET_KEY)
    understood = understand(parse_data, text)
    return TranscriptEntry(
        kind=VISITOR,
        timestamp=event.timestamp,
        text=text,
        intent=intent,
        confidence=float(confidence) if confidence is not None else None,
        channel=event.data.get("input_channel"),
        crisis=intent_data.get("name") == CRISIS_INTENT or safety_net is not None,
        unanswered=intent_data.get("name") in UNANSWERED_INTENTS,
        safety_net_phrase=(safety_net or {}).get("phrase") if isinstance(safety_net, dict) else None,
        pressed=_pressed_button(text, offered),
        event_id=event.id,
        answer=understood.answer,
        runner_up=understood.runner_up,
        outcome=understood.outcome,
    )


def _pressed_button(text: str, offered: Sequence[Button]) -> str | None:
    """The title of the offered button whose payload the visitor sent, if any."""
    for button in offered:
        if button.payload and button.payload == text.strip():
            return button.title
    return None


def _assistant_entry(event: StoredEvent) -> TranscriptEntry:
    data = event.data.get("data") or {}
    buttons = [
        Button(str(button.get("title") or ""), str(button.get("payload") or ""))
        for button in (data.get("buttons") or [])
        if isinstance(button, dict)
    ]
    return TranscriptEntry(ASSISTANT, event.timestamp, str(event.data.get("text") or ""), buttons=buttons)


def _slot_step(event: StoredEvent, slots: Dict[str, Any], started: bool, in_form: bool) -> TranscriptEntry | None:
    """A slot that changed after the visitor's first message, as a step.

    Slots set at session start, a slot set again to the value it already had (the
    form extracts then validates), and slots cleared after a form ended (its
    reset) are not steps; a slot cleared inside a form is a correction, and is.
    """
    name = str(event.data.get("name") or "")
    value = event.data.get("value")
    previous = slots.get(name)
    slots[name] = value
    if not started or name in SESSION_SLOTS or value == previous or (value is None and not in_form):
        return None
    if name == "requested_slot":
        text = f"Form asks for: {value}" if value else "Form has all it needs"
    elif value is None:
        text = f"{name} cleared"
    else:
        text = f"{name} = {_shown(value)}"
    return TranscriptEntry(STEP, event.timestamp, text, crisis=(name == CRISIS_SLOT and value is True))


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
