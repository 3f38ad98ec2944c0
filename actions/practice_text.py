"""Turns practice-profile fields into the values that fill the responses' {placeholders}.

Wording stays in the domain's responses; this module only decides which profile
fields go where, so that the FAQ, crisis and booking actions share one mapping.
"""

from typing import Dict, List, Tuple

from rasa_sdk.events import SlotSet

from assistant.settings import PracticeProfile

# Profile values kept as slots, so that responses sent by rules and forms (not only
# by custom actions) can use them; refreshed at every session start.
PROFILE_SLOTS = ("practice_name", "therapist_name", "crisis_resources")

# Which profile fields answer which FAQ topic; the other topics come from the
# practice's published texts and need nothing from the profile.
PROFILE_TOPIC_FIELDS: Dict[str, Tuple[str, ...]] = {
    "cost": ("fees",),
    "insurance": ("insurance",),
    "location": ("location", "telehealth"),
    "availability": ("availability",),
    "session_length": ("session_lengths",),
    "services": ("services",),
    "languages": ("languages",),
    "cancellation_policy": ("cancellation_policy",),
    "credentials": ("credentials",),
}


def practice_names(profile: PracticeProfile) -> Dict[str, str]:
    """The practice's and the therapist's names, for any response that uses them."""
    return {"practice_name": profile.practice_name, "therapist_name": profile.therapist_name}


def crisis_values(profile: PracticeProfile) -> Dict[str, str]:
    """The crisis lines as a list (for the crisis answer) and in one line (for notices)."""
    return {
        "crisis_resources": "\n".join(f"• {line}" for line in profile.crisis_lines),
        "crisis_summary": "; ".join(profile.crisis_lines) + ".",
    }


def direct_contact_note(profile: PracticeProfile) -> str:
    """A sentence with the practice's direct contact details, or "" when none are set."""
    ways = [profile.contact[key] for key in ("phone", "email") if profile.contact.get(key)]
    if not ways:
        return ""
    return " You can also reach the practice directly: " + " or ".join(ways) + "."


def booking_link_note(profile: PracticeProfile) -> str:
    """A sentence offering the practice's booking page, or "" when it has none."""
    if not profile.booking_link:
        return ""
    return f" You can also pick a time yourself here: {profile.booking_link}"


def profile_answer(topic: str, profile: PracticeProfile) -> Dict[str, str] | None:
    """The profile fields that answer a practice-fact topic.

    Returns None when the practice has not published any of them, so the caller
    can say honestly that the topic is covered in the consultation call.
    """
    fields = PROFILE_TOPIC_FIELDS[topic]
    values = {field: profile.field(field) for field in fields}
    if not any(values.values()):
        return None
    return values


def response_values(profile: PracticeProfile) -> Dict[str, str]:
    """Everything a response may need from the profile, in one mapping."""
    return {
        **practice_names(profile),
        **crisis_values(profile),
        "first_crisis_line": profile.crisis_lines[0],
        "direct_contact": direct_contact_note(profile),
        "booking_link_note": booking_link_note(profile),
        "retention_days": str(profile.retention_days),
    }


def profile_slot_events(profile: PracticeProfile) -> List[SlotSet]:
    """SlotSet events that copy the profile values responses use into the tracker."""
    values = response_values(profile)
    return [SlotSet(name, values[name]) for name in PROFILE_SLOTS]
