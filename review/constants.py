"""Names the review app recognises in the tracker store's events.

These are the assistant's own names (domain.yml, actions/), repeated here only where
the review app must recognise them in stored events; a rename there needs one here.
The parse-data keys come from `assistant.parse_keys`, where the pipeline takes them.
"""

from assistant.parse_keys import CRISIS_INTENT, SAFETY_NET_KEY, UNKNOWN_INTENT

__all__ = [
    "BOOKING_INTENT", "CRISIS_INTENT", "CRISIS_SLOT", "FLAGS", "FLAG_LABELS", "MEDICAL_INTENT",
    "REVIEW_FLAGS", "REVIEW_STATES", "REVIEW_STATE_LABELS", "SAFETY_NET_KEY", "SESSION_SLOTS",
    "UNANSWERED_INTENTS",
]

CRISIS_SLOT = "crisis_flag"
MEDICAL_INTENT = "medical_question"
BOOKING_INTENT = "book_consultation"
UNANSWERED_INTENTS = ("nlu_fallback", UNKNOWN_INTENT)

# The flags the conversation list filters by, in the order they are shown.
FLAGS = ("crisis", "booking", "unanswered", "unsure", "medical")
FLAG_LABELS = {
    "crisis": "Crisis",
    "booking": "Booking requested",
    "unanswered": "Unanswered",
    "unsure": "Answered but unsure",
    "medical": "Medical question",
}
# The flags that put an unread conversation in front of the therapist ("To review").
REVIEW_FLAGS = ("crisis", "booking", "unanswered", "unsure")

# Where the therapist is with a conversation. A conversation without a stored state is new;
# opening its transcript makes it read.
REVIEW_STATES = ("new", "read", "follow_up", "done")
REVIEW_STATE_LABELS = {
    "new": "New",
    "read": "Read",
    "follow_up": "Needs follow-up",
    "done": "Done",
}

# Slots that Rasa's session start sets in every conversation: not a step of anything.
SESSION_SLOTS = ("practice_name", "therapist_name", "crisis_resources")
