"""Makes any response of the assistant fit what Messenger's Send API accepts.

Messenger refuses, rather than shortens, a message over its limits: text over
2,000 characters, more than 13 quick replies, a button template with more than 3
buttons or more than 640 characters of text. A refused message is a message the
visitor never sees, so every response is reshaped here instead, and nothing is
left out: long text is split at sentence boundaries, buttons become quick replies
when a template cannot hold them, long titles are shortened on a word boundary,
and options that fit nowhere else are written into the text.

Every function is pure: it takes the parts of a Rasa response and returns the
`message` objects of Send API requests, in the order they are to be sent.
"""

import re
from typing import Any, Dict, Iterator, List, Sequence

MAX_TEXT = 2000
MAX_BUTTON_TEMPLATE_TEXT = 640
MAX_TEMPLATE_BUTTONS = 3
MAX_QUICK_REPLIES = 13
MAX_TITLE = 20
MAX_PAYLOAD = 1000
MAX_GENERIC_ELEMENTS = 10
MAX_ELEMENT_TEXT = 80

ELLIPSIS = "…"
CHOICE_PROMPT = "Please choose:"
MORE_OPTIONS_HEADING = "More options:"

MessengerMessage = Dict[str, Any]

_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+|\n+")
_WORD = re.compile(r"\S+\s*|\s+")


def messenger_length(text: str) -> int:
    """The length Messenger counts: UTF-16 code units, so an emoji counts as two.

    Counting code points would let a text full of emoji slip over the limit.
    """
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> List[str]:
    """Splits text into parts of at most `limit` characters, at sentence boundaries.

    A sentence longer than the limit is split between words, and a single word
    longer than the limit (a pasted link, say) is cut. Joined together, the parts
    give back the text, line breaks included, less the spaces where it was split.

    Returns:
        The parts, or an empty list for blank text.
    """
    text = text.strip()
    if not text:
        return []
    if messenger_length(text) <= limit:
        return [text]
    parts: List[str] = []
    current = ""
    for fragment in _fragments(text, limit):
        if current and messenger_length((current + fragment).rstrip()) > limit:
            parts.append(current.strip())
            current = ""
        current += fragment.lstrip() if not current else fragment
    if current.strip():
        parts.append(current.strip())
    return parts


def _fragments(text: str, limit: int) -> Iterator[str]:
    """Sentences with their trailing space; too-long ones as words or cut pieces."""
    start = 0
    for boundary in _SENTENCE_END.finditer(text):
        yield from _fitting(text[start : boundary.end()], limit)
        start = boundary.end()
    if start < len(text):
        yield from _fitting(text[start:], limit)


def _fitting(sentence: str, limit: int) -> Iterator[str]:
    if messenger_length(sentence.rstrip()) <= limit:
        yield sentence
        return
    for word in _WORD.findall(sentence):
        while messenger_length(word.rstrip()) > limit:
            head = _cut(word, limit) or word[0]
            yield head
            word = word[len(head) :]
        yield word


def _cut(text: str, limit: int) -> str:
    """The longest start of `text` within `limit` Messenger characters."""
    used = 0
    for index, character in enumerate(text):
        used += messenger_length(character)
        if used > limit:
            return text[:index]
    return text


def short_title(title: str, limit: int = MAX_TITLE) -> str:
    """Shortens a button title to `limit` characters, on a word boundary, with "…".

    Messenger cuts long titles itself, mid-word and without a sign that something
    is missing; "Book a free consultation call" reads better as "Book a free…".
    """
    title = " ".join(str(title).split())
    if messenger_length(title) <= limit:
        return title
    room = limit - messenger_length(ELLIPSIS)
    kept = ""
    for word in title.split(" "):
        candidate = f"{kept} {word}" if kept else word
        if messenger_length(candidate) > room:
            break
        kept = candidate
    kept = kept.rstrip(" ,.;:-–—") or _cut(title, room)
    return kept + ELLIPSIS


def fit_text(text: str) -> List[MessengerMessage]:
    """Text messages for a plain text response."""
    return [{"text": part} for part in split_text(text)]


def fit_text_with_buttons(text: str, buttons: Sequence[Dict[str, Any]]) -> List[MessengerMessage]:
    """Messages for a text with buttons.

    Up to 3 buttons under a short text stay a button template (its buttons stay
    in the thread); otherwise the buttons become quick replies on the last part
    of the text, which may be up to 2,000 characters.
    """
    usable = [button for button in buttons if _title(button)]
    parts = split_text(text) or [CHOICE_PROMPT]
    template_buttons = [_template_button(button) for button in usable]
    if (
        usable
        and len(usable) <= MAX_TEMPLATE_BUTTONS
        and messenger_length(parts[-1]) <= MAX_BUTTON_TEMPLATE_TEXT
        and all(template_buttons)
    ):
        template = {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "button", "text": parts[-1], "buttons": template_buttons},
            }
        }
        return [{"text": part} for part in parts[:-1]] + [template]
    return fit_text_with_quick_replies(text, usable)


def fit_text_with_quick_replies(text: str, options: Sequence[Dict[str, Any]]) -> List[MessengerMessage]:
    """Messages for a text with options offered as quick replies (at most 13).

    Options that cannot be quick replies (links, the 14th and later, payloads over
    1,000 characters) are written at the end of the text rather than left out.
    """
    quick_replies: List[Dict[str, str]] = []
    written: List[str] = []
    for option in options:
        title = _title(option)
        if not title:
            continue
        quick_reply = _quick_reply(option)
        if quick_reply and len(quick_replies) < MAX_QUICK_REPLIES:
            quick_replies.append(quick_reply)
        elif option.get("url"):
            written.append(f"{title}: {option['url']}")
        else:
            written.append(title)
    if written:
        text = f"{text}\n\n{MORE_OPTIONS_HEADING}\n" + "\n".join(f"• {line}" for line in written)
    messages: List[MessengerMessage] = [{"text": part} for part in split_text(text)]
    if quick_replies:
        if not messages:
            messages = [{"text": CHOICE_PROMPT}]
        messages[-1]["quick_replies"] = quick_replies
    return messages


def fit_elements(elements: Sequence[Dict[str, Any]]) -> List[MessengerMessage]:
    """Generic templates of at most 10 elements, each with at most 3 buttons.

    An element with more buttons is repeated, with the next 3 buttons each time,
    so that every button can still be pressed.
    """
    cards: List[Dict[str, Any]] = []
    for element in elements:
        card = {key: value for key, value in element.items() if key != "buttons"}
        card["title"] = short_title(element.get("title") or CHOICE_PROMPT, MAX_ELEMENT_TEXT)
        if element.get("subtitle"):
            card["subtitle"] = short_title(element["subtitle"], MAX_ELEMENT_TEXT)
        buttons = [b for b in (_template_button(button) for button in element.get("buttons") or []) if b]
        if not buttons:
            cards.append(card)
        for start in range(0, len(buttons), MAX_TEMPLATE_BUTTONS):
            cards.append({**card, "buttons": buttons[start : start + MAX_TEMPLATE_BUTTONS]})
    return [
        {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "generic",
                    "elements": cards[start : start + MAX_GENERIC_ELEMENTS],
                },
            }
        }
        for start in range(0, len(cards), MAX_GENERIC_ELEMENTS)
    ]


def _title(option: Dict[str, Any]) -> str:
    return " ".join(str(option.get("title") or "").split()) if isinstance(option, dict) else ""


def _template_button(button: Dict[str, Any]) -> Dict[str, str] | None:
    """A template button, or None when the button's payload is too long to send."""
    if button.get("url"):
        return {"type": "web_url", "title": short_title(_title(button)), "url": str(button["url"])}
    payload = str(button.get("payload") or _title(button))
    if len(payload) > MAX_PAYLOAD:
        return None
    return {"type": "postback", "title": short_title(_title(button)), "payload": payload}


def _quick_reply(option: Dict[str, Any]) -> Dict[str, str] | None:
    """A text quick reply, or None for a link or a payload too long to send."""
    if option.get("url"):
        return None
    payload = str(option.get("payload") or _title(option))
    if len(payload) > MAX_PAYLOAD:
        return None
    return {"content_type": "text", "title": short_title(_title(option)), "payload": payload}
