"""The gentle line: one sentence with the crisis number after an answer that touched on danger.

A message that mentions suicide or self-harm without sounding like danger now
(past suicidality told as history, grief after a suicide, overdose risk asked
about the treatment) gets its answer, then this line: the crisis script would be
wrong for it, and silence about the number would be too.
"""

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.practice_text import response_values
from assistant.parse_keys import SENSITIVE_MENTION_KEY
from assistant.settings import practice_profile


def send_gentle_line_if_sensitive(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    """Adds the gentle crisis line when the safety net noted a sensitive mention."""
    if (tracker.latest_message or {}).get(SENSITIVE_MENTION_KEY):
        dispatcher.utter_message(response="utter_gentle_crisis_line", **response_values(practice_profile()))
