"""Rasa's web app with the project's REST channel and no model: a server that starts in seconds.

The Rasa server with its model takes a minute or more to start; a second one only to
set `REST_TOKEN` would double that. This one builds the app as `rasa run` does for the
channel (`rasa.core.run`, the channel made by its `from_credentials`, Rasa's own
routing), with a Rasa agent that has no model: a request the channel lets through
reaches Rasa's handler and is answered with no messages.

    python -m tests.channels.rest_channel_server PORT
"""

import sys

from rasa.core import run
from rasa.core.agent import Agent

from assistant.rasa_server import limit_request_size

REST_CHANNEL = "channels.rest.CheckedRestInput"


def main(port: int) -> None:
    """Serves the REST channel on 127.0.0.1:`port` until stopped."""
    limit_request_size()
    channels = run.create_http_input_channels(REST_CHANNEL, None)
    app = run.configure_app(channels, enable_api=False, port=port)
    app.ctx.agent = Agent()
    app.run(host="127.0.0.1", port=port, access_log=False, motd=False)


if __name__ == "__main__":
    main(int(sys.argv[1]))
