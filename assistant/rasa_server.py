"""The Rasa server (`rasa run`, `rasa shell`) without two costs Rasa 3.6 pays every turn.

Profiling a turn (bench/README.md) found two lookups that Rasa repeats although
their answer never changes while the server runs:

- After each custom action, Rasa checks the action server's answer against a JSON
  schema through `jsonschema.validate`, which first checks that the schema itself
  is a valid schema: about 20 ms a turn on this 2-core machine, where checking the
  answer takes 0.3 ms. Here the schema is checked once and its validator kept;
  every answer is still validated, with Rasa's error message.
- Loading a conversation turns each stored event back into an object, and finds the
  event's class by walking every subclass of `Event` anew, for every event: the
  load grew by about 0.1 ms an event. Here the classes are listed once by name.

It also caps the request body at `channels.inbound.MAX_REQUEST_BYTES`, so that a
huge request is refused with 413 before it is read. Nothing is lost or silent:
the tracker store never falls back to memory (`assistant.tracker_store`), a
message that can't be stored is refused (`assistant.unstored_messages`), and the
server answers itself when the action server can't (`assistant.action_outage`).
Then it runs Rasa's own command line:

    python -m assistant.rasa_server run --model models/assistant.tar.gz ...
"""

import functools
import os
import sys
from typing import Any, Dict, List, Type

from jsonschema import validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

from assistant.action_outage import answer_in_place_of_the_action_server
from assistant.tracker_store import refuse_to_forget
from assistant.unstored_messages import refuse_unstored_messages
from channels import inbound

find_event_class_by_walking = Event.resolve_by_type


@functools.lru_cache(maxsize=1)
def action_response_validator() -> Any:
    """A validator for Rasa's action server response schema, the schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def validate_action_result(action: RemoteAction, result: Dict[str, Any]) -> bool:
    """What `RemoteAction._validate_action_result` does, with the kept validator."""
    error = best_match(action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response "
        f"from the Action endpoint is valid. For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


@functools.lru_cache(maxsize=1)
def event_classes_by_name() -> Dict[str, Type[Event]]:
    """Every concrete event class by its type name; the first one wins, as in Rasa."""
    classes: Dict[str, Type[Event]] = {}
    for event_class in all_subclasses(Event):
        classes.setdefault(event_class.type_name, event_class)
    return classes


def find_event_class(type_name: str, default: Type[Event] | None = None) -> Type[Event] | None:
    """What `Event.resolve_by_type` returns, from the list made once."""
    found = event_classes_by_name().get(type_name)
    return found if found is not None else find_event_class_by_walking(type_name, default)


def skip_repeated_lookups() -> None:
    """Makes Rasa use the kept validator and the event classes listed once."""
    RemoteAction._validate_action_result = validate_action_result
    Event.resolve_by_type = staticmethod(find_event_class)


def limit_request_size() -> None:
    """Makes the Sanic app that Rasa builds refuse a body over `MAX_REQUEST_BYTES` with 413.

    Sanic's default is 100 MB: a 900 KB REST message once ran in the classifier for
    minutes. Sanic reads `SANIC_`-prefixed variables into the config of every app it
    creates, and checks `Content-Length` against the limit before reading the body;
    an operator's own `SANIC_REQUEST_MAX_SIZE` wins.
    """
    os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(inbound.MAX_REQUEST_BYTES))


def main(arguments: List[str]) -> None:
    """Runs Rasa's command line with `arguments` (for example `run --model ...`)."""
    from rasa.__main__ import main as rasa_main

    skip_repeated_lookups()
    limit_request_size()
    refuse_to_forget()
    refuse_unstored_messages()
    answer_in_place_of_the_action_server()
    sys.argv = ["rasa", *arguments]
    rasa_main()


if __name__ == "__main__":
    main(sys.argv[1:])
