"""FAQ answers come from the cited domain answers or the practice profile, never elsewhere."""

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.faq import ActionAnswerFaq, ActionAnswerUnknownQuestion, ActionHumanHandoff, ActionSuggestTopics
from tests.actions.conftest import faq_message


async def _run(action, tracker) -> list:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


async def test_a_document_topic_is_answered_with_its_cited_response(make_tracker) -> None:
    messages, events = await _run(ActionAnswerFaq(), make_tracker(latest_message=faq_message("safety")))
    assert messages[0]["response"] == "utter_faq/safety"
    assert events[0]["value"] == "safety"


async def test_a_pressed_topic_button_is_answered_whatever_the_selector_thought(make_tracker) -> None:
    message = faq_message("cost", intent="choose_topic")
    message["entities"] = [{"entity": "topic", "value": "integration"}]
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=message))
    assert messages[0]["response"] == "utter_faq/integration"


async def test_an_empty_profile_field_says_it_is_covered_in_the_call(make_tracker, practice_file) -> None:
    practice_file(fees="")
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=faq_message("cost")))
    assert messages[0]["response"] == "utter_unpublished_cost"
    assert messages[0]["therapist_name"] == "Barbara"


async def test_a_filled_profile_field_is_the_answer_without_retraining(make_tracker, practice_file) -> None:
    practice_file(fees="Sessions are $150; sliding scale available.")
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=faq_message("cost")))
    assert messages[0]["response"] == "utter_faq/cost"
    assert messages[0]["fees"] == "Sessions are $150; sliding scale available."


async def test_location_uses_location_and_telehealth(make_tracker, practice_file) -> None:
    practice_file(location="", telehealth="All sessions can be online in Oregon.")
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=faq_message("location")))
    assert messages[0]["response"] == "utter_faq/location"
    assert messages[0]["telehealth"] == "All sessions can be online in Oregon."


async def test_an_unknown_topic_asks_to_rephrase(make_tracker) -> None:
    message = {"intent": {"name": "choose_topic"}, "entities": [{"entity": "topic", "value": "dosing"}]}
    messages, events = await _run(ActionAnswerFaq(), make_tracker(latest_message=message))
    assert messages[0]["response"] == "utter_ask_rephrase" and events == []


async def test_unclear_messages_get_the_three_closest_topics_and_booking(make_tracker) -> None:
    messages, _ = await _run(ActionSuggestTopics(), make_tracker(latest_message=faq_message("preparation", intent="nlu_fallback")))
    payloads = [button["payload"] for button in messages[0]["buttons"]]
    assert payloads == [
        '/choose_topic{"topic": "preparation"}',
        '/choose_topic{"topic": "safety"}',
        '/choose_topic{"topic": "cost"}',
        "/book_consultation",
    ]
    assert all(len(button["title"]) <= 20 for button in messages[0]["buttons"])


async def test_asking_for_a_person_gives_published_contacts(make_tracker, practice_file) -> None:
    practice_file(contact={"email": "hello@example.com", "phone": ""})
    messages, _ = await _run(ActionHumanHandoff(), make_tracker())
    assert "hello@example.com" in messages[0]["direct_contact"]


async def test_asking_for_a_person_without_published_contacts_offers_the_call(make_tracker, practice_file) -> None:
    practice_file(contact={})
    messages, _ = await _run(ActionHumanHandoff(), make_tracker())
    assert messages[0]["direct_contact"] == ""


async def test_an_unknown_question_is_answered_honestly_with_only_the_close_topics(make_tracker) -> None:
    message = {
        "intent": {"name": "out_of_scope"},
        "entities": [],
        "unknown_question": {"topic": "faq/experience", "close_topics": ["preparation", "integration"]},
    }
    messages, events = await _run(ActionAnswerUnknownQuestion(), make_tracker(latest_message=message))
    assert messages[0]["response"] == "utter_unknown_question"
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        '/choose_topic{"topic": "preparation"}',
        '/choose_topic{"topic": "integration"}',
        "/book_consultation",
    ]
    assert events == []


async def test_an_unrelated_question_offers_no_topic_only_the_call(make_tracker) -> None:
    message = {"intent": {"name": "out_of_scope"}, "entities": []}
    messages, _ = await _run(ActionAnswerUnknownQuestion(), make_tracker(latest_message=message))
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/book_consultation"]


async def test_the_unknown_answer_gives_the_direct_contact_when_published(make_tracker, practice_file) -> None:
    practice_file(contact={"email": "hello@example-practice.com"})
    messages, _ = await _run(ActionAnswerUnknownQuestion(), make_tracker(latest_message={"intent": {"name": "out_of_scope"}}))
    assert "hello@example-practice.com" in messages[0]["direct_contact"]


async def test_a_sensitive_mention_adds_one_gentle_line_after_the_answer(make_tracker) -> None:
    message = {**faq_message("who_is_it_for"), "sensitive_mention": {"phrase": "suicidal"}}
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=message))
    assert [m["response"] for m in messages] == ["utter_faq/who_is_it_for", "utter_gentle_crisis_line"]
    assert "988" in messages[1]["first_crisis_line"]


async def test_an_ordinary_question_gets_no_gentle_line(make_tracker) -> None:
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=faq_message("who_is_it_for")))
    assert [m["response"] for m in messages] == ["utter_faq/who_is_it_for"]


@pytest.mark.parametrize("topic", ["services", "languages", "cancellation_policy", "credentials"])
async def test_a_new_practice_topic_is_deferred_honestly_while_its_field_is_empty(make_tracker, topic: str) -> None:
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=faq_message(topic)))
    assert messages[0]["response"] == f"utter_unpublished_{topic}"


async def test_a_published_practice_field_answers_its_topic(make_tracker, practice_file) -> None:
    practice_file(languages="Sessions are in English and Spanish.")
    messages, _ = await _run(ActionAnswerFaq(), make_tracker(latest_message=faq_message("languages")))
    assert messages[0]["response"] == "utter_faq/languages"
    assert messages[0]["languages"] == "Sessions are in English and Spanish."


async def test_chat_privacy_says_on_messenger_that_meta_carries_the_messages(make_tracker) -> None:
    messenger = make_tracker(latest_message=faq_message("chat_privacy"), events=[{"event": "user", "input_channel": "facebook"}])
    website = make_tracker(latest_message=faq_message("chat_privacy"), events=[{"event": "user", "input_channel": "socketio"}])
    messenger_messages, _ = await _run(ActionAnswerFaq(), messenger)
    website_messages, _ = await _run(ActionAnswerFaq(), website)
    assert messenger_messages[0]["response"] == "utter_chat_privacy_messenger"
    assert website_messages[0]["response"] == "utter_faq/chat_privacy"
    assert website_messages[0]["retention_days"] == "365"
