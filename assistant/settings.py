"""The one place that reads the environment and the practice profile.

Everything else (actions, the tracker store, the review app) asks this module, so
that a setting has one name, one default and one documented meaning. Nothing is
read at import time: callers ask when they need a value, which keeps tests free to
point the project at a temporary database or profile.
"""

import os
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import yaml

from assistant.private_files import private_folder, private_sqlite_database

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_PATH = PROJECT_ROOT / "var" / "assistant.db"
DEFAULT_PROFILE_PATH = PROJECT_ROOT / "practice.yml"

PROFILE_TEXT_FIELDS = (
    "practice_name",
    "therapist_name",
    "fees",
    "insurance",
    "availability",
    "location",
    "telehealth",
    "session_lengths",
    "services",
    "languages",
    "cancellation_policy",
    "credentials",
    "booking_link",
)


class ProfileError(ValueError):
    """The practice profile is missing or malformed; the message says where."""


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server that emails the therapist."""

    host: str
    port: int
    username: str | None
    password: str | None
    sender: str
    recipient: str
    starttls: bool


@dataclass(frozen=True)
class PracticeProfile:
    """The practice facts that the published texts do not give.

    Empty strings mean "not published": the assistant then says the topic is
    covered in the free consultation call instead of guessing.
    """

    practice_name: str
    therapist_name: str
    fees: str
    insurance: str
    availability: str
    location: str
    telehealth: str
    session_lengths: str
    services: str
    languages: str
    cancellation_policy: str
    credentials: str
    booking_link: str
    contact: Dict[str, str]
    crisis_country: str
    crisis_lines: Tuple[str, ...]
    retention_days: int
    # The raw `consultation:` section (call length, booking hours, time zone ...);
    # `actions.calendar_slots.consultation_hours` checks it where it is used.
    consultation: Dict[str, Any] = dataclass_field(default_factory=dict)

    def field(self, name: str) -> str:
        """Returns a text field by name, stripped ("" when unset)."""
        return str(getattr(self, name) or "").strip()


def database_url(env: Mapping[str, str] = os.environ) -> str:
    """The SQLAlchemy URL of the database that holds conversations and bookings.

    `DATABASE_URL` switches to PostgreSQL (for example
    `postgresql://user@127.0.0.1:5432/assistant`); by default an SQLite file under
    `var/` is used, created on first use. Every process asks here before it opens
    the database, so this is where an SQLite file is made private (600, in a 700
    `var/`) before SQLite would create it readable by every local user.
    """
    url = env.get("DATABASE_URL", "").strip()
    if url:
        url = url.replace("postgres://", "postgresql://", 1)
    else:
        private_folder(DEFAULT_DATABASE_PATH.parent)
        url = f"sqlite:///{DEFAULT_DATABASE_PATH}"
    private_sqlite_database(url)
    return url


def profile_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where the practice profile lives (`PRACTICE_PROFILE` overrides)."""
    return Path(env.get("PRACTICE_PROFILE") or DEFAULT_PROFILE_PATH)


def smtp_settings(env: Mapping[str, str] = os.environ) -> SmtpSettings | None:
    """SMTP settings, or None when email is not configured (alerts are then logged)."""
    host = env.get("SMTP_HOST", "").strip()
    recipient = env.get("THERAPIST_EMAIL", "").strip()
    if not host or not recipient:
        return None
    return SmtpSettings(
        host=host,
        port=int(env.get("SMTP_PORT") or 587),
        username=env.get("SMTP_USERNAME") or None,
        password=env.get("SMTP_PASSWORD") or None,
        sender=env.get("SMTP_FROM") or recipient,
        recipient=recipient,
        starttls=(env.get("SMTP_STARTTLS", "true").lower() not in {"0", "false", "no"}),
    )


@dataclass(frozen=True)
class CalendarSettings:
    """The therapist's CalDAV calendar collection, and the account that may write to it."""

    url: str
    username: str | None
    password: str | None = dataclass_field(repr=False, default=None)


def calendar_settings(env: Mapping[str, str] = os.environ) -> CalendarSettings | None:
    """The calendar to book consultation calls into, or None: the booking stays a request.

    `CALDAV_URL` is the calendar collection's own URL (not the server's root), with
    `CALDAV_USERNAME` and `CALDAV_PASSWORD` (an app password where the provider has
    them). They come from the environment only, never from a file of the repository.
    """
    url = env.get("CALDAV_URL", "").strip()
    if not url:
        return None
    return CalendarSettings(
        url=url if url.endswith("/") else url + "/",
        username=env.get("CALDAV_USERNAME", "").strip() or None,
        password=env.get("CALDAV_PASSWORD") or None,
    )


def review_base_url(env: Mapping[str, str] = os.environ) -> str:
    """The address of the review app, used to link alerts to a conversation."""
    return (env.get("REVIEW_BASE_URL") or "http://localhost:5006").rstrip("/")


_profile_cache: Dict[Path, Tuple[float, PracticeProfile]] = {}


def practice_profile(path: Path | None = None) -> PracticeProfile:
    """Reads the practice profile, re-reading it whenever the file changes.

    The cache is keyed on the file's modification time so that an edit to
    `practice.yml` shows in the very next answer without a restart.
    """
    path = Path(path or profile_path())
    try:
        mtime = path.stat().st_mtime
    except OSError as error:
        raise ProfileError(f"practice profile not found at {path}") from error
    cached = _profile_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    profile = parse_practice_profile(_read_yaml(path), source=str(path))
    _profile_cache[path] = (mtime, profile)
    return profile


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ProfileError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(content, dict):
        raise ProfileError(f"{path} must be a mapping of fields")
    return content


def parse_practice_profile(raw: Dict[str, Any], source: str = "profile") -> PracticeProfile:
    """Checks a loaded profile and turns it into a PracticeProfile.

    Raises:
        ProfileError: a required field is missing or has the wrong type.
    """
    for required in ("practice_name", "therapist_name"):
        if not str(raw.get(required) or "").strip():
            raise ProfileError(f"{source}: '{required}' must be filled in")
    texts = {name: _text(raw, name, source) for name in PROFILE_TEXT_FIELDS}
    contact = raw.get("contact") or {}
    if not isinstance(contact, dict):
        raise ProfileError(f"{source}: 'contact' must be a mapping")
    crisis = raw.get("crisis_resources") or {}
    lines = crisis.get("lines") if isinstance(crisis, dict) else None
    if not isinstance(lines, list) or not all(isinstance(x, str) and x.strip() for x in lines):
        raise ProfileError(f"{source}: 'crisis_resources.lines' must list at least one line")
    try:
        retention_days = int(raw.get("retention_days") or 365)
    except (TypeError, ValueError) as error:
        raise ProfileError(f"{source}: 'retention_days' must be a whole number") from error
    return PracticeProfile(
        **texts,
        contact={k: str(v).strip() for k, v in contact.items() if str(v or "").strip()},
        crisis_country=str(crisis.get("country") or "").strip(),
        crisis_lines=tuple(line.strip() for line in lines),
        retention_days=retention_days,
        consultation=_mapping(raw, "consultation", source),
    )


def _mapping(raw: Dict[str, Any], name: str, source: str) -> Dict[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        raise ProfileError(f"{source}: '{name}' must be a mapping of fields")
    return value


def _text(raw: Dict[str, Any], name: str, source: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise ProfileError(f"{source}: '{name}' must be text")
    return str(value).strip()



DEFAULT_TOPICS_PATH = PROJECT_ROOT / "data" / "topics.yml"
DOMAIN_PATH = PROJECT_ROOT / "domain.yml"
RESPONSES_DIR = PROJECT_ROOT / "data" / "responses"


def domain_files() -> List[Path]:
    """The domain and the response files kept beside the training data.

    Together they hold everything the assistant says: Rasa merges the `responses:`
    of training-data files (the long FAQ answers) into the domain when it trains.
    """
    return [DOMAIN_PATH, *sorted(RESPONSES_DIR.glob("*.yml"))]


def topic_titles(path: Path = DEFAULT_TOPICS_PATH) -> Dict[str, str]:
    """The short button titles of the FAQ topics, from `data/topics.yml`."""
    content = _read_yaml(Path(path))
    titles = content.get("titles") or {}
    if not isinstance(titles, dict):
        raise ProfileError(f"{path}: 'titles' must map topics to button titles")
    return {str(topic): str(title) for topic, title in titles.items()}


@dataclass(frozen=True)
class IntentTitles:
    """The therapist's names for the intents that are not FAQ topics, from `data/topics.yml`."""

    titles: Dict[str, str]
    # Intents never offered as the right answer when she corrects one.
    not_offered: Tuple[str, ...]


def intent_titles(path: Path = DEFAULT_TOPICS_PATH) -> IntentTitles:
    """The review app's titles of the other intents (greet, book_consultation, ...)."""
    content = _read_yaml(Path(path))
    titles = content.get("intent_titles") or {}
    not_offered = content.get("not_offered") or []
    if not isinstance(titles, dict) or not isinstance(not_offered, list):
        raise ProfileError(f"{path}: 'intent_titles' must map intents to titles and 'not_offered' list intents")
    return IntentTitles(
        {str(intent): str(title) for intent, title in titles.items()},
        tuple(str(intent) for intent in not_offered),
    )


@dataclass(frozen=True)
class Ports:
    """The localhost ports `make run` serves on."""

    rasa: int
    actions: int


def ports(env: Mapping[str, str] = os.environ) -> Ports:
    """Ports from `RASA_PORT` and `ACTIONS_PORT`, with Rasa's usual defaults."""
    return Ports(
        rasa=int(env.get("RASA_PORT") or 5005),
        actions=int(env.get("ACTIONS_PORT") or 5055),
    )


@dataclass(frozen=True)
class EventBrokerSettings:
    """Where Rasa's `pika` event broker publishes and the review's consumer reads (RabbitMQ).

    `repr` leaves the password out, so logging the settings cannot give it away.
    """

    host: str
    port: int
    username: str
    password: str = dataclass_field(repr=False)
    queue: str = "review_events"
    exchange: str = "rasa-exchange"


def event_broker_settings(env: Mapping[str, str] = os.environ) -> EventBrokerSettings:
    """RabbitMQ from `RABBITMQ_HOST`, `_PORT`, `_USERNAME`, `_PASSWORD`, `_QUEUE`, `_EXCHANGE`.

    Only the scale-out setup (`make cluster`, `deploy/`) uses a broker. The
    defaults are RabbitMQ's own on loopback (`guest` may only connect from
    there); a real host sets its own user and password.
    """
    return EventBrokerSettings(
        host=env.get("RABBITMQ_HOST", "").strip() or "127.0.0.1",
        port=int(env.get("RABBITMQ_PORT") or 5672),
        username=env.get("RABBITMQ_USERNAME", "").strip() or "guest",
        password=env.get("RABBITMQ_PASSWORD") or "guest",
        queue=env.get("RABBITMQ_QUEUE", "").strip() or "review_events",
        exchange=env.get("RABBITMQ_EXCHANGE", "").strip() or "rasa-exchange",
    )


@dataclass(frozen=True)
class LockStoreSettings:
    """Redis, Rasa's lock store when several replicas serve the same conversations."""

    host: str
    port: int
    password: str = dataclass_field(repr=False, default="")


def lock_store_settings(env: Mapping[str, str] = os.environ) -> LockStoreSettings:
    """Redis from `REDIS_HOST` (default 127.0.0.1), `REDIS_PORT` (6379) and `REDIS_PASSWORD` (none)."""
    return LockStoreSettings(
        host=env.get("REDIS_HOST", "").strip() or "127.0.0.1",
        port=int(env.get("REDIS_PORT") or 6379),
        password=env.get("REDIS_PASSWORD") or "",
    )


@dataclass(frozen=True)
class ClusterSettings:
    """The scale-out setup on one machine (`make cluster`): how many of each, on which ports.

    Rasa replicas listen on `first_rasa_port` and up, action servers on
    `first_action_port` and up, all on loopback; only HAProxy's `public_port` is
    the visitors' address.
    """

    rasa_replicas: int
    action_servers: int
    public_port: int
    actions_port: int
    first_rasa_port: int
    first_action_port: int
    database_url: str


DEFAULT_CLUSTER_DATABASE = "postgresql://postgres@127.0.0.1:5432/assistant"


def cluster_settings(env: Mapping[str, str] = os.environ) -> ClusterSettings:
    """From `CLUSTER_RASA_REPLICAS` (3), `CLUSTER_ACTION_SERVERS` (2), `CLUSTER_PORT` (5080).

    Its database is PostgreSQL: `DATABASE_URL`, or by default the `assistant`
    database of the server on 127.0.0.1:5432.
    """
    public_port = int(env.get("CLUSTER_PORT") or 5080)
    url = env.get("DATABASE_URL", "").strip().replace("postgres://", "postgresql://", 1)
    replicas, servers = int(env.get("CLUSTER_RASA_REPLICAS") or 3), int(env.get("CLUSTER_ACTION_SERVERS") or 2)
    if replicas < 1 or servers < 1:
        raise ValueError("CLUSTER_RASA_REPLICAS and CLUSTER_ACTION_SERVERS must be at least 1")
    if url and not url.startswith("postgresql"):
        raise ValueError("the replicas share one PostgreSQL database: DATABASE_URL must name one (or be unset)")
    return ClusterSettings(
        rasa_replicas=replicas,
        action_servers=servers,
        public_port=public_port,
        actions_port=public_port + 1,
        first_rasa_port=public_port + 10,
        first_action_port=public_port + 60,
        database_url=url or DEFAULT_CLUSTER_DATABASE,
    )


def action_server_host(env: Mapping[str, str] = os.environ) -> str:
    """The address the action server binds (`ACTIONS_HOST`, default 127.0.0.1).

    Only the Rasa server should reach the action server, so it listens on
    loopback unless a deployment that runs them on separate hosts says otherwise.
    """
    return env.get("ACTIONS_HOST", "").strip() or "127.0.0.1"


def action_server_url(env: Mapping[str, str] = os.environ) -> str:
    """Where Rasa calls the action server (`ACTION_SERVER_URL`), for `endpoints.yml`.

    By default the loopback address on `ACTIONS_PORT`, so that moving the port
    moves both the action server and Rasa's calls to it.
    """
    url = env.get("ACTION_SERVER_URL", "").strip()
    return url or f"http://127.0.0.1:{ports(env).actions}/webhook"


DEFAULT_REVIEW_PASSWORD_FILE = PROJECT_ROOT / "var" / "review_password.argon2"


def review_port(env: Mapping[str, str] = os.environ) -> int:
    """The localhost port of the therapist's review app (`REVIEW_PORT`, default 5006)."""
    return int(env.get("REVIEW_PORT") or 5006)


def review_secret_key(env: Mapping[str, str] = os.environ) -> str | None:
    """The key that signs the review app's session cookies (`REVIEW_SECRET_KEY`).

    None means "make a random one at start": sessions then end when the app
    restarts, which is the safe default for one therapist on one machine.
    """
    return env.get("REVIEW_SECRET_KEY", "").strip() or None


def review_summaries_from_broker(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the event broker's consumer keeps the review's summaries (`REVIEW_SUMMARIES_FROM_BROKER`).

    `make cluster` sets it for the review app it starts: with several Rasa
    replicas, PostgreSQL ids commit out of order, so the app must not follow
    `events` by its highest id (it could skip an event for good); the consumer
    (`review.event_consumer`) folds every published event instead. Unset (`make
    run`: one process, SQLite, no broker), the app folds new events itself.
    """
    return env.get("REVIEW_SUMMARIES_FROM_BROKER", "").strip().lower() in {"1", "true", "yes"}


def review_password_file(env: Mapping[str, str] = os.environ) -> Path:
    """Where `make review-password` keeps the argon2 hash (`REVIEW_PASSWORD_FILE` overrides)."""
    return Path(env.get("REVIEW_PASSWORD_FILE") or DEFAULT_REVIEW_PASSWORD_FILE)


def review_password(env: Mapping[str, str] = os.environ) -> str | None:
    """A plain password from `REVIEW_PASSWORD`, which the review app hashes at start.

    Meant for containers and CI, where the environment is the secret store; never
    logged. When set it replaces any stored hash; on a workstation, prefer
    `make review-password`, which keeps only a hash.
    """
    return env.get("REVIEW_PASSWORD") or None


def review_password_hash(env: Mapping[str, str] = os.environ) -> str | None:
    """The therapist's argon2 password hash, or None when no password is set yet.

    `REVIEW_PASSWORD_HASH` wins over the file that `make review-password` writes.
    The file is read on every call, so a new password works without a restart.
    """
    hashed = env.get("REVIEW_PASSWORD_HASH", "").strip()
    if hashed:
        return hashed
    try:
        return review_password_file(env).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def review_trusted_proxy_header(env: Mapping[str, str] = os.environ) -> str | None:
    """The header in which the review app's reverse proxy names the client (`REVIEW_TRUSTED_PROXY_HEADER`).

    Unset (the default), the app believes only the socket's address, since any
    client can write `X-Forwarded-For`. Set it (e.g. `X-Forwarded-For`) only when
    the app is reachable through that proxy alone; its `X-Forwarded-Proto` is then
    believed too.
    """
    return env.get("REVIEW_TRUSTED_PROXY_HEADER", "").strip() or None


FACEBOOK_ENV_VARS = ("FACEBOOK_VERIFY_TOKEN", "FACEBOOK_APP_SECRET", "FACEBOOK_PAGE_ACCESS_TOKEN")
DEFAULT_GRAPH_API_URL = "https://graph.facebook.com/v24.0"


@dataclass(frozen=True)
class FacebookCredentials:
    """What the Messenger channel needs from the practice's Facebook app and Page."""

    verify_token: str
    app_secret: str
    page_access_token: str


def facebook_credentials(env: Mapping[str, str] = os.environ) -> FacebookCredentials | None:
    """The Messenger credentials, or None (channel off) unless all three are set.

    They come from `FACEBOOK_VERIFY_TOKEN`, `FACEBOOK_APP_SECRET` and
    `FACEBOOK_PAGE_ACCESS_TOKEN` only, so that no secret is ever committed in
    `credentials.yml`; a half-configured channel stays off rather than running
    without signature checks.
    """
    values = [env.get(name, "").strip() for name in FACEBOOK_ENV_VARS]
    if not all(values):
        return None
    return FacebookCredentials(*values)


def graph_api_base_url(env: Mapping[str, str] = os.environ) -> str:
    """The Graph API address with its version (`FACEBOOK_GRAPH_API_URL` overrides).

    Tests point it at a local stand-in that records what would have been sent.
    """
    return (env.get("FACEBOOK_GRAPH_API_URL") or DEFAULT_GRAPH_API_URL).rstrip("/")


def web_port(env: Mapping[str, str] = os.environ) -> int:
    """The localhost port of the demo page with the chat widget (`WEB_PORT`, default 8080)."""
    return int(env.get("WEB_PORT") or 8080)


def allowed_origins(env: Mapping[str, str] = os.environ) -> Tuple[str, ...]:
    """The website origins whose pages may open the chat socket (`ALLOWED_ORIGINS`).

    A comma-separated list such as `https://www.example-practice.com`; by default
    only the demo page of `make run`. Browsers send their page's origin with
    every socket request, and the socket.io channel refuses any other.
    """
    listed = [origin.strip().rstrip("/") for origin in env.get("ALLOWED_ORIGINS", "").split(",")]
    if any(listed):
        return tuple(origin for origin in listed if origin)
    port = web_port(env)
    return (f"http://localhost:{port}", f"http://127.0.0.1:{port}")


def rest_token(env: Mapping[str, str] = os.environ) -> str | None:
    """The bearer token the REST channel requires (`REST_TOKEN`), or None: REST open.

    Open is right for `make run` on localhost, where tests and tools talk over REST;
    on a public deployment, set it (any long random string), so that only those who
    hold it can write into a conversation by its id.
    """
    return env.get("REST_TOKEN", "").strip() or None
