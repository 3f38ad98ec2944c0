"""Opaque references to conversations, for links that leave the assistant (alert emails).

An alert email passes through mail servers the practice does not run, so its link
should not name the conversation: the reference is the conversation id encrypted
with AES-SIV under a key only the assistant's processes hold
(`CONVERSATION_REFERENCE_KEY`, from the environment or generated once into
`var/`). Only the review app, after sign-in, turns it back into the conversation.
AES-SIV is deterministic, so every alert about one conversation carries the same
link, and it is authenticated, so an altered reference is refused, never misread.
"""

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from assistant import local_secrets

KEY_NAME = "CONVERSATION_REFERENCE_KEY"
AES_SIV_KEY_BYTES = 64  # AES-256-SIV
KEY_PURPOSE = b"practice conversation references v1"
MAX_REFERENCE_CHARACTERS = 2000


@dataclass(frozen=True)
class ConversationReferences:
    """Turns conversation ids into opaque references and back."""

    key: bytes

    @classmethod
    def from_secret(cls) -> "ConversationReferences":
        """References every process of the assistant can read (the shared secret)."""
        secret = local_secrets.secret(KEY_NAME).encode("utf-8")
        derive = HKDF(algorithm=hashes.SHA256(), length=AES_SIV_KEY_BYTES, salt=None, info=KEY_PURPOSE)
        return cls(derive.derive(secret))

    def reference_for(self, conversation_id: str) -> str:
        """The reference that stands for `conversation_id` in a link (URL-safe, no padding)."""
        return _spelled(AESSIV(self.key).encrypt(conversation_id.encode("utf-8"), None))

    def conversation_of(self, reference: str) -> str | None:
        """The conversation a reference stands for; None when this key did not make it."""
        if not isinstance(reference, str) or len(reference) > MAX_REFERENCE_CHARACTERS:
            return None
        try:
            sealed = base64.urlsafe_b64decode(reference + "=" * (-len(reference) % 4))
            # Only the one spelling this key wrote: base64's last character carries
            # unused bits, so another spelling can decode to the same sealed bytes.
            if _spelled(sealed) != reference:
                return None
            return AESSIV(self.key).decrypt(sealed, None).decode("utf-8")
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
            return None


def _spelled(sealed: bytes) -> str:
    """Sealed bytes as they appear in a link: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")
