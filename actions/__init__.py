"""The action server: thin rasa-sdk actions, one module a concern.

rasa-sdk imports this package and registers every Action subclass it finds in the
modules below. Nothing here opens a database or reads a file at import time.
"""

from actions import booking, faq, safety, session, visitor_rights  # noqa: F401
