"""Answering questions: FAQ topics, topic suggestions and the way to a person."""

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.gentle_line import send_gentle_line_if_sensitive
from actions.practice_text import PROFILE_TOPIC_FIELDS, profile_answer, response_values
from assistant.parse_keys import UNKNOWN_QUESTION_KEY
from assistant.settings import practice_profile, topic_titles

RETRIEVAL_INTENT = "faq"
MAX_SUGGESTIONS = 3
BOOK_BUTTON = {"title": "Book a free call", "payload": "/book_consultation"}
MESSENGER_CHANNEL = "facebook"
# Answers that read differently on Messenger, where Meta carries the messages.
MESSENGER_VARIANTS = {"chat_privacy": "utter_chat_privacy_messenger"}


def topic_button(topic: str, titles: Dict[str, str]) -> Dict[str, str]:
    """A button that asks for one topic's answer."""
    return {"title": titles[topic], "payload": f'/choose_topic{{"topic": "{topic}"}}'}


def selected_topic(tracker: Tracker) -> str | None:
    """The topic the visitor asked about: a pressed button's, else the selector's."""
    message = tracker.latest_message or {}
    if (message.get("intent") or {}).get("name") == "choose_topic":
        for entity in message.get("entities") or []:
            if entity.get("entity") == "topic":
                return str(entity.get("value"))
    return ranked_topics(tracker)[0] if ranked_topics(tracker) else None


def ranked_topics(tracker: Tracker) -> List[str]:
    """The FAQ topics the response selector ranked for the last message, best first."""
    selector = ((tracker.latest_message or {}).get("response_selector") or {}).get(
        RETRIEVAL_INTENT
    ) or {}
    topics = []
    for candidate in selector.get("ranking") or []:
        key = str(candidate.get("intent_response_key") or "")
        if key.startswith(f"{RETRIEVAL_INTENT}/"):
            topics.append(key.split("/", 1)[1])
    return topics


def send_faq_answer(dispatcher: CollectingDispatcher, tracker: Tracker) -> str | None:
    """Sends the answer to the topic asked about; returns the topic, or None if unknown.

    Document topics use their cited domain answer; practice-fact topics are filled
    from the practice profile, or say honestly that the consultation call covers them.
    """
    topic = selected_topic(tracker)
    if topic not in topic_titles():
        return None
    profile = practice_profile()
    values = response_values(profile)
    if topic in PROFILE_TOPIC_FIELDS:
        answer = profile_answer(topic, profile)
        if answer is None:
            dispatcher.utter_message(response=f"utter_unpublished_{topic}", **values)
            return topic
        values.update(answer)
    dispatcher.utter_message(response=_answer_response(topic, tracker), **values)
    return topic


def _answer_response(topic: str, tracker: Tracker) -> str:
    """The topic's answer, in its Messenger wording when the visitor writes from Messenger."""
    if topic in MESSENGER_VARIANTS and tracker.get_latest_input_channel() == MESSENGER_CHANNEL:
        return MESSENGER_VARIANTS[topic]
    return f"utter_faq/{topic}"


def close_topics(tracker: Tracker) -> List[str]:
    """The topics the unknown-question gate found genuinely close to the last message."""
    evidence = (tracker.latest_message or {}).get(UNKNOWN_QUESTION_KEY) or {}
    return [str(topic) for topic in evidence.get("close_topics") or []]


class ActionAnswerFaq(Action):
    """Answers an FAQ topic, from the domain's cited answers or the practice profile."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sends the answer; an unknown topic asks the visitor to rephrase."""
        topic = send_faq_answer(dispatcher, tracker)
        if topic is None:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        send_gentle_line_if_sensitive(dispatcher, tracker)
        return [SlotSet("topic", topic)]


class ActionAnswerUnknownQuestion(Action):
    """Says honestly that the assistant doesn't know, and how to ask Barbara instead.

    Topics are offered only when the unknown-question gate found them genuinely
    close to the question; the booking button is always there.
    """

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_answer_unknown_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sends the honest answer with close topics, if any, and the booking button."""
        titles = topic_titles()
        topics = [t for t in close_topics(tracker) if t in titles][:MAX_SUGGESTIONS]
        buttons = [topic_button(topic, titles) for topic in topics] + [BOOK_BUTTON]
        dispatcher.utter_message(
            response="utter_unknown_question", buttons=buttons, **response_values(practice_profile())
        )
        send_gentle_line_if_sensitive(dispatcher, tracker)
        return []


class ActionSuggestTopics(Action):
    """Offers the closest topics and the consultation when the message was unclear."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_suggest_topics"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sends up to three topic buttons, best guess first, and the booking button."""
        titles = topic_titles()
        topics = [t for t in ranked_topics(tracker) if t in titles][:MAX_SUGGESTIONS]
        buttons = [topic_button(topic, titles) for topic in topics] + [BOOK_BUTTON]
        dispatcher.utter_message(response="utter_suggest_topics", buttons=buttons)
        return []


class ActionHumanHandoff(Action):
    """Gives the practice's direct contact, where published, and offers the booking."""

    def name(self) -> str:
        """The name Rasa calls this action by."""
        return "action_human_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        """Sends the handoff answer filled from the practice profile."""
        dispatcher.utter_message(
            response="utter_human_handoff", **response_values(practice_profile())
        )
        return []
