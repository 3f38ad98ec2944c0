"""Messenger's documented Send API limits, written out independently of the channel code.

https://developers.facebook.com/docs/messenger-platform/reference/send-api/ and the
quick-replies and template references: text up to 2,000 characters, up to 13
quick replies with titles up to 20 characters, button templates with 1-3 buttons
and up to 640 characters of text, generic templates with up to 10 elements.
"""

from typing import Any, Dict, List


def _length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def problems(message: Dict[str, Any]) -> List[str]:
    """Everything in one Send API `message` that Messenger would refuse."""
    found: List[str] = []
    text = message.get("text")
    attachment = message.get("attachment")
    if text is None and attachment is None:
        found.append("neither text nor attachment")
    if text is not None:
        if not text.strip():
            found.append("empty text")
        if _length(text) > 2000:
            found.append(f"text of {_length(text)} characters")
    quick_replies = message.get("quick_replies") or []
    if len(quick_replies) > 13:
        found.append(f"{len(quick_replies)} quick replies")
    for reply in quick_replies:
        if reply.get("content_type") == "text" and not (0 < _length(reply.get("title", "")) <= 20):
            found.append(f"quick reply title {reply.get('title')!r}")
        if _length(str(reply.get("payload", ""))) > 1000:
            found.append("quick reply payload over 1000 characters")
    if attachment and attachment.get("type") == "template":
        payload = attachment["payload"]
        if payload["template_type"] == "button":
            if not 1 <= len(payload["buttons"]) <= 3:
                found.append(f"button template with {len(payload['buttons'])} buttons")
            if _length(payload["text"]) > 640:
                found.append("button template text over 640 characters")
            found += _button_problems(payload["buttons"])
        if payload["template_type"] == "generic":
            if len(payload["elements"]) > 10:
                found.append(f"{len(payload['elements'])} generic elements")
            for element in payload["elements"]:
                if _length(element.get("title", "")) > 80 or _length(element.get("subtitle", "")) > 80:
                    found.append("generic element title or subtitle over 80 characters")
                if len(element.get("buttons") or []) > 3:
                    found.append("generic element with more than 3 buttons")
                found += _button_problems(element.get("buttons") or [])
    return found


def _button_problems(buttons: List[Dict[str, Any]]) -> List[str]:
    found = []
    for button in buttons:
        if not 0 < _length(button.get("title", "")) <= 20:
            found.append(f"button title {button.get('title')!r}")
        if button.get("type") not in {"postback", "web_url"}:
            found.append(f"button type {button.get('type')!r}")
    return found


def offered_titles(message: Dict[str, Any]) -> List[str]:
    """The titles of the quick replies and template buttons of a message."""
    titles = [reply["title"] for reply in message.get("quick_replies") or []]
    attachment = message.get("attachment") or {}
    payload = attachment.get("payload") or {}
    titles += [button["title"] for button in payload.get("buttons") or []]
    return titles


def offered_payloads(message: Dict[str, Any]) -> List[str]:
    """The payloads of the quick replies and postback buttons of a message."""
    payloads = [reply["payload"] for reply in message.get("quick_replies") or []]
    attachment = message.get("attachment") or {}
    payload = attachment.get("payload") or {}
    payloads += [b["payload"] for b in payload.get("buttons") or [] if b.get("type") == "postback"]
    return payloads


def message_text(message: Dict[str, Any]) -> str:
    """The text a visitor reads in a message, whether plain or a button template's."""
    if "text" in message:
        return message["text"]
    payload = (message.get("attachment") or {}).get("payload") or {}
    return payload.get("text", "")
