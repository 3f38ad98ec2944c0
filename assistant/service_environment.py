"""What each of the assistant's processes may see of the launcher's environment.

The launcher's environment holds every secret of the practice (the review
password, the Facebook app secret, the SMTP password). A process that does not
use a secret must not hold it, so that a fault in one (a crash dump, a debug page,
a dependency that reports its environment) cannot give away another's. Each
service therefore starts with an explicit allow-list: the variables that
`assistant.settings` and `assistant.local_secrets` read for it, plus what any
Python process needs. A new setting is added here, to the services that read it.

`python -m assistant.service_environment` prints the `export` lines that Rasa's
own commands (`rasa shell`, `rasa run`, `rasa test`) need for `endpoints.yml`:

    eval "$(python -m assistant.service_environment)"
"""

import os
import shlex
import sys
from typing import Dict, FrozenSet, Mapping, Tuple

from assistant import local_secrets, settings

ACTION_SERVER_TOKEN = "ACTION_SERVER_TOKEN"

# What every Python process of the project needs: no secrets here.
COMMON_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED",
    "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TF_CPP_MIN_LOG_LEVEL",
    "SQLALCHEMY_SILENCE_UBER_WARNING", "LOG_LEVEL", "PRACTICE_PROFILE", "VAR_DIR",
})
COMMON_PREFIXES = ("LC_",)

SMTP_VARIABLES = frozenset({
    "SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM",
    "SMTP_STARTTLS", "THERAPIST_EMAIL",
})

# The therapist's CalDAV calendar (assistant.settings.calendar_settings): the action server only.
CALENDAR_VARIABLES = frozenset({"CALDAV_URL", "CALDAV_USERNAME", "CALDAV_PASSWORD"})

# RabbitMQ, Rasa's event broker in the scale-out setup (assistant.settings.event_broker_settings).
BROKER_VARIABLES = frozenset({
    "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USERNAME", "RABBITMQ_PASSWORD",
    "RABBITMQ_QUEUE", "RABBITMQ_EXCHANGE",
})

REDIS_VARIABLES = frozenset({"REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"})

# Service name (as `assistant.launch` names it) -> the variables it reads.
SERVICE_VARIABLES: Dict[str, FrozenSet[str]] = {
    "action server": frozenset({
        "DATABASE_URL", "ACTIONS_HOST", "ACTIONS_PORT", ACTION_SERVER_TOKEN,
        "REVIEW_BASE_URL", "CONVERSATION_REFERENCE_KEY", *SMTP_VARIABLES, *CALENDAR_VARIABLES,
    }),
    "assistant": frozenset({
        "DATABASE_URL", "ACTION_SERVER_URL", ACTION_SERVER_TOKEN, "ALLOWED_ORIGINS",
        "WEB_PORT", "SESSION_SIGNING_KEY", "CONVERSATION_REFERENCE_KEY", "REST_TOKEN",
        *settings.FACEBOOK_ENV_VARS, "FACEBOOK_GRAPH_API_URL",
        # Only deploy/cluster/endpoints.yml reads these (the scale-out setup).
        *BROKER_VARIABLES, *REDIS_VARIABLES,
    }),
    "review app": frozenset({"DATABASE_URL", "CONVERSATION_REFERENCE_KEY"}),
    # `review.event_consumer`: the broker's queue in, the summaries out.
    "review consumer": frozenset({"DATABASE_URL", *BROKER_VARIABLES}),
    "demo page": frozenset({"WEB_PORT", "RASA_PORT"}),
}
# Families read by a framework rather than by the project (Sanic reads SANIC_*
# into its config, Rasa reads RASA_*), or owned by one service (REVIEW_*).
SERVICE_PREFIXES: Dict[str, Tuple[str, ...]] = {
    "action server": ("SANIC_",),
    "assistant": ("RASA_", "SANIC_"),
    "review app": ("REVIEW_", "SANIC_"),
    "review consumer": (),
    "demo page": (),
}


def allowed(service_name: str, variable: str) -> bool:
    """Whether the service called `service_name` may see `variable`."""
    prefixes = COMMON_PREFIXES + SERVICE_PREFIXES.get(service_name, ())
    return (
        variable in COMMON_VARIABLES
        or variable in SERVICE_VARIABLES.get(service_name, frozenset())
        or variable.startswith(prefixes)
    )


def for_service(service_name: str, environment: Mapping[str, str]) -> Dict[str, str]:
    """The part of `environment` that the service called `service_name` may see."""
    return {name: value for name, value in environment.items() if allowed(service_name, name)}


def endpoint_variables(env: Mapping[str, str] = os.environ) -> Dict[str, str]:
    """The variables `endpoints.yml` refers to, from `env` or their defaults.

    Rasa refuses to start when one is unset, so whoever starts Rasa or the
    action server sets all of them, with the same values for both: the action
    server's address (moved by `ACTIONS_PORT`) and the token it requires
    (generated once into `var/` when the environment has none).
    """
    return {
        "ACTION_SERVER_URL": settings.action_server_url(env),
        ACTION_SERVER_TOKEN: local_secrets.secret(ACTION_SERVER_TOKEN, env),
    }


def cluster_endpoint_variables(env: Mapping[str, str] = os.environ) -> Dict[str, str]:
    """The variables `deploy/cluster/endpoints.yml` refers to: `endpoint_variables`, Redis and RabbitMQ."""
    broker = settings.event_broker_settings(env)
    redis = settings.lock_store_settings(env)
    return {
        **endpoint_variables(env),
        "REDIS_HOST": redis.host,
        "REDIS_PORT": str(redis.port),
        "REDIS_PASSWORD": redis.password,
        "RABBITMQ_HOST": broker.host,
        "RABBITMQ_PORT": str(broker.port),
        "RABBITMQ_USERNAME": broker.username,
        "RABBITMQ_PASSWORD": broker.password,
        "RABBITMQ_QUEUE": broker.queue,
        "RABBITMQ_EXCHANGE": broker.exchange,
    }


def shell_exports(env: Mapping[str, str] = os.environ) -> str:
    """`export` lines for a shell that will run Rasa's own commands."""
    return "".join(
        f"export {name}={shlex.quote(value)}\n" for name, value in endpoint_variables(env).items()
    )


if __name__ == "__main__":
    sys.stdout.write(shell_exports())
