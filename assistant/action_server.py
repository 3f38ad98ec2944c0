"""The action server that only the Rasa server can use.

rasa-sdk's own entry point (`rasa run actions`) listens on every address and runs
any action for anyone who can reach the port: a forged POST to `/webhook` stored
a booking request and raised a crisis alert. This entry point serves the same
rasa-sdk app (its actions, its plugins from `rasa_sdk_plugins`) with two changes:

- it binds 127.0.0.1 unless `ACTIONS_HOST` says otherwise;
- every call but `/health` must carry `Authorization: Bearer <ACTION_SERVER_TOKEN>`,
  the shared secret that Rasa sends from `endpoints.yml`; without it the request is
  refused (401, or 403 for a wrong token) before any action runs.

    python -m assistant.action_server [--port 5055] [--host 127.0.0.1]
"""

import argparse
import hmac
import logging
import sys
from typing import List

from rasa_sdk import utils
from rasa_sdk.endpoint import create_app as create_rasa_sdk_app
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from assistant import local_secrets, settings

ACTIONS_PACKAGE = "actions"
TOKEN_NAME = "ACTION_SERVER_TOKEN"
OPEN_PATHS = frozenset({"/health"})
BEARER = "bearer "
# Rasa's HTTP client (aiohttp) drops an idle pooled connection after 15 s. The
# server must keep it open longer: closed by the server first, the next call on it
# fails ("Can not write request body") and the visitor gets the outage reply.
KEEP_ALIVE_SECONDS = 75

logger = logging.getLogger(__name__)


def presented_token(request: Request) -> str | None:
    """The token of the request's `Authorization: Bearer ...` header, None without one."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith(BEARER):
        return None
    return header[len(BEARER):].strip() or None


def refusal(request: Request, token: str) -> HTTPResponse | None:
    """Why the request may not reach the actions, as a response; None when it may.

    The comparison takes the same time whatever the presented token, so timing
    tells an attacker nothing about how much of a guess was right.
    """
    if request.path in OPEN_PATHS:
        return None
    presented = presented_token(request)
    if presented is None:
        return response.json({"error": "The action server token is required."}, status=401)
    if not hmac.compare_digest(presented.encode("utf-8"), token.encode("utf-8")):
        logger.warning("Refused a call to %s with a wrong action server token.", request.path)
        return response.json({"error": "The action server token is wrong."}, status=403)
    return None


def create_app(token: str, actions_package: str = ACTIONS_PACKAGE) -> Sanic:
    """rasa-sdk's app for `actions_package`, its plugins attached, refusing calls without `token`."""
    if not token:
        raise ValueError("the action server needs a non-empty token")
    app = create_rasa_sdk_app(actions_package, cors_origins="")
    app.config.KEEP_ALIVE_TIMEOUT = KEEP_ALIVE_SECONDS
    app.ctx.action_server_token = token

    @app.on_request
    async def require_token(request: Request) -> HTTPResponse | None:
        return refusal(request, request.app.ctx.action_server_token)

    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


def parse_arguments(argv: List[str]) -> argparse.Namespace:
    """The command line; the defaults come from the environment through `settings`."""
    parser = argparse.ArgumentParser(description="The project's action server (token required).")
    parser.add_argument("--port", type=int, default=settings.ports().actions)
    parser.add_argument("--host", default=settings.action_server_host())
    parser.add_argument("--actions", default=ACTIONS_PACKAGE)
    utils.add_logging_level_option_arguments(parser)
    return parser.parse_args(argv)


def main(argv: List[str] | None = None) -> None:
    """Serves the actions on `--host`:`--port` with rasa-sdk's logging."""
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    utils.configure_colored_logging(args.loglevel)
    utils.update_sanic_log_level()
    app = create_app(local_secrets.secret(TOKEN_NAME), args.actions)
    logger.info("The action server listens on http://%s:%s (token required).", args.host, args.port)
    app.run(args.host, args.port, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
