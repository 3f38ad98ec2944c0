"""Meta-shaped Messenger webhook calls, signed as Meta signs them, for the channel tests."""

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List

import requests

from assistant.database import engine_for
from channels.message_receipts import handled_ids
from channels.messenger_background import message_id
from tests.channels.graph_api import GraphApiStandIn

PAGE_ID = "1234567890"
# Generous: on a loaded 2-core machine a batch of messages can take a while.
HANDLING_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class FacebookApp:
    """The test Facebook app's credentials, given to the Rasa server through its environment."""

    verify_token: str
    app_secret: str
    page_access_token: str

    @classmethod
    def made_for_this_run(cls) -> "FacebookApp":
        """Fresh random credentials: no real app's secret is ever in the tests."""
        return cls(
            verify_token=secrets.token_urlsafe(16),
            app_secret=secrets.token_hex(16),
            page_access_token=f"EAAtest{secrets.token_hex(12)}",
        )

    def environment(self) -> Dict[str, str]:
        """The variables `assistant.settings.facebook_credentials` reads."""
        return {
            "FACEBOOK_VERIFY_TOKEN": self.verify_token,
            "FACEBOOK_APP_SECRET": self.app_secret,
            "FACEBOOK_PAGE_ACCESS_TOKEN": self.page_access_token,
        }


def new_psid() -> str:
    """A fresh page-scoped id: one visitor, one conversation."""
    return str(uuid.uuid4().int)[:16]


def _event(psid: str, **content: Any) -> Dict[str, Any]:
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        **content,
    }


def text_event(psid: str, text: str) -> Dict[str, Any]:
    """A visitor typed `text`."""
    return _event(psid, message={"mid": f"m_{uuid.uuid4().hex}", "text": text})


def quick_reply_event(psid: str, title: str, payload: str) -> Dict[str, Any]:
    """A visitor tapped a quick reply: Messenger sends its title as text and its payload."""
    return _event(
        psid, message={"mid": f"m_{uuid.uuid4().hex}", "text": title, "quick_reply": {"payload": payload}}
    )


def postback_event(psid: str, title: str, payload: str) -> Dict[str, Any]:
    """A visitor pressed a template button."""
    return _event(psid, postback={"mid": f"m_{uuid.uuid4().hex}", "title": title, "payload": payload})


def attachment_event(psid: str, kind: str = "image") -> Dict[str, Any]:
    """A visitor sent a picture (or audio, video, file)."""
    attachment = {"type": kind, "payload": {"url": f"https://scontent.example/{uuid.uuid4().hex}.jpg"}}
    return _event(psid, message={"mid": f"m_{uuid.uuid4().hex}", "attachments": [attachment]})


def echo_event(psid: str, text: str) -> Dict[str, Any]:
    """Messenger's copy of a message the Page itself sent to `psid`."""
    return {
        "sender": {"id": PAGE_ID},
        "recipient": {"id": psid},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": f"m_{uuid.uuid4().hex}", "is_echo": True, "app_id": 42, "text": text},
    }


def other_events(psid: str) -> List[Dict[str, Any]]:
    """Events that are not messages: delivery and read receipts, a reaction, an unknown kind."""
    return [
        _event(psid, delivery={"mids": ["m_1"], "watermark": 1}),
        _event(psid, read={"watermark": 1}),
        _event(psid, reaction={"mid": "m_1", "action": "react", "reaction": "love", "emoji": "❤"}),
        _event(psid, something_new={"from": "a future version of the platform"}),
    ]


def webhook_body(*events: Dict[str, Any]) -> Dict[str, Any]:
    """The body Meta posts: one entry for the Page holding the events."""
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": int(time.time() * 1000), "messaging": list(events)}]}


def signature(raw_body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta sends with a body."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


@dataclass
class MessengerWebhook:
    """Posts webhook calls to the running Rasa server and reads what it sent back."""

    url: str
    app: FacebookApp
    graph: GraphApiStandIn
    database_url: str

    def post(self, body: Dict[str, Any] | bytes, headers: Dict[str, str] | None = None) -> requests.Response:
        """Posts a body signed with the app secret, unless `headers` says otherwise."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent_headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature(raw, self.app.app_secret)}
        sent_headers.update(headers or {})
        return requests.post(self.url, data=raw, headers={k: v for k, v in sent_headers.items() if v}, timeout=60)

    def send(self, psid: str, *events: Dict[str, Any]) -> List[Dict[str, Any]]:
        """Posts events from one visitor and returns the messages sent to them in answer."""
        before = len(self.graph.messages_to(psid))
        answer = self.post(webhook_body(*events))
        assert answer.status_code == 200, answer.text
        self.wait_until_handled(*events)
        return self.graph.messages_to(psid)[before:]

    def wait_until_handled(self, *events: Dict[str, Any], timeout: float = HANDLING_TIMEOUT_SECONDS) -> None:
        """Waits until the assistant has finished with every message of these events.

        The webhook answers before the events are handled; the channel records in
        the database when it is done with each message id, after its replies went out.
        """
        message_ids = {mid for mid in (message_id(event) for event in events) if mid}
        engine = engine_for(self.database_url)
        deadline = time.monotonic() + timeout
        while handled_ids(engine, message_ids) != message_ids:
            assert time.monotonic() < deadline, f"messages not handled within {timeout} s"
            time.sleep(0.05)

    def say(self, psid: str, text: str) -> List[Dict[str, Any]]:
        """The visitor types `text`; returns what the assistant sent back."""
        return self.send(psid, text_event(psid, text))
