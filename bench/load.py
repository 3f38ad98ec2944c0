"""The load benchmark: concurrent visitors over REST, one process vs the cluster, beside moodbot.

`make bench-load` runs this. Three setups are started in turn on this machine and
each is sent the levels of `bench/load.yml` (1, 10 and 50 visitors at once, each
visitor one sender id that sends its next message when the reply came back):

- the single process of `make run` (action server and Rasa, SQLite tracker store;
  the review app is left out: it serves the therapist, not the visitors), with
  Rasa's HTTP API on so that NLU alone can be timed through `/model/parse`;
- the cluster of `make cluster` (`assistant.cluster`: HAProxy, Rasa replicas,
  action servers, PostgreSQL, Redis lock store, RabbitMQ broker, the review app
  and its consumer) on a temporary PostgreSQL database;
- `rasa init`'s moodbot, trained and run here in the same run, with its default
  in-memory tracker store, as the yardstick of what Rasa itself costs.

Per setup and level it records p50 and p95 of a turn (a message to its reply as
the visitor sees it), messages per second, and messages lost: the messages sent
against the `user` events the tracker store holds for those senders afterwards.
Then where the time goes, measured rather than guessed: each turn split by the
timestamps Rasa wrote on its own events, the CPU time of every process (each
replica on its own) during each level, and NLU alone through `/model/parse`.

It writes `bench/load_results.json`, prints the tables and puts them in the
"Load" section of `bench/README.md`.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import platform
import queue
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Mapping, Sequence, Tuple

import aiohttp
import sqlalchemy as sa
import yaml

from assistant import launch, service_environment
from assistant.settings import PROJECT_ROOT
from bench.run import percentiles

BENCH_DIR = PROJECT_ROOT / "bench"
PLAN_FILE = BENCH_DIR / "load.yml"
RESULTS_FILE = BENCH_DIR / "load_results.json"
README = BENCH_DIR / "README.md"
SECTION_TITLE = "## Load"
SINGLE, CLUSTER, MOODBOT = "single process", "cluster", "moodbot"
REST_PATH = "/webhooks/rest/webhook"
CLUSTER_READY_LINE = "The cluster is running"
STARTUP_SECONDS = 600
STOP_SECONDS = 30
TRACKER_READS_AT_ONCE = 10
PARSE_ROUNDS = 10

# The parts of a turn, in the order they happen (`turn_stages`).
RECEIVED_TO_PARSED = "received to parsed (waiting for the server, lock, loading the conversation, NLU)"
CUSTOM_ACTIONS = "custom actions (prediction + action server)"
RESPONSES = "responses (prediction + utter_)"
RASA_ACTIONS = "action_listen and Rasa's own actions (prediction)"
AFTER_LAST_ACTION = "after the last action (storing the conversation, the reply)"
STAGES = (RECEIVED_TO_PARSED, CUSTOM_ACTIONS, RESPONSES, RASA_ACTIONS, AFTER_LAST_ACTION)

# The machine's own servers that the cluster uses, by process name.
SHARED_SERVICES = {"postgres": "PostgreSQL", "redis-server": "Redis", "beam.smp": "RabbitMQ"}
LOAD_GENERATOR = "load generator (this script)"
EVERYTHING_ELSE = "everything else on the machine"

logger = logging.getLogger("bench.load")


@dataclass(frozen=True)
class Level:
    """How many visitors talk at once, and how many conversations each has in turn."""

    visitors: int
    conversations_per_visitor: int


@dataclass(frozen=True)
class Plan:
    """What is sent (`bench/load.yml`)."""

    levels: List[Level]
    warm_up_visitors: int
    timeout_seconds: float
    conversations: Dict[str, List[str]]

    @classmethod
    def load(cls, path: Path = PLAN_FILE) -> "Plan":
        """Reads the plan; the messages are data, not code."""
        raw = yaml.safe_load(path.read_text())
        for name, messages in raw["conversations"].items():
            not_text = [message for message in messages if not isinstance(message, str)]
            if not_text:
                raise ValueError(f"{path}: {name} has messages that YAML did not read as text: {not_text}")
        return cls(
            levels=[Level(**level) for level in raw["levels"]],
            warm_up_visitors=int(raw["warm_up_visitors"]),
            timeout_seconds=float(raw["timeout_seconds"]),
            conversations={name: list(messages) for name, messages in raw["conversations"].items()},
        )


@dataclass(frozen=True)
class Turn:
    """One message as the visitor saw it: when it was sent, when the reply came, whether it did."""

    sender: str
    text: str
    started: float
    finished: float
    ok: bool

    @property
    def seconds(self) -> float:
        """How long the visitor waited."""
        return self.finished - self.started


@dataclass(frozen=True)
class StoredEvent:
    """A `user` or `action` event as the tracker store holds it, with Rasa's own timestamp."""

    kind: str
    name: str | None
    timestamp: float


StoredEvents = Callable[[Sequence[str]], Awaitable[Dict[str, List[StoredEvent]]]]


@dataclass
class Target:
    """A running setup: where visitors talk to it, how to read back what it stored, its processes."""

    name: str
    url: str
    conversation: List[str]
    stored_events: StoredEvents
    processes: Callable[[], Dict[int, str]]
    parse_url: str | None = None
    startup_seconds: float = 0.0
    notes: Dict[str, Any] = dataclasses.field(default_factory=dict)


# --- What is measured: pure functions over turns and stored events -------------------------


def sent_per_sender(turns: Sequence[Turn]) -> Dict[str, int]:
    """Messages each sender sent, answered or not: a timed-out message may still be stored."""
    return dict(Counter(turn.sender for turn in turns))


def stored_per_sender(events: Mapping[str, Sequence[StoredEvent]]) -> Dict[str, int]:
    """Visitor messages (`user` events) the tracker store holds per sender."""
    return {sender: sum(event.kind == "user" for event in stored) for sender, stored in events.items()}


def lost_messages(sent: Mapping[str, int], stored: Mapping[str, int]) -> int:
    """Messages sent that the tracker store does not hold.

    Counted per sender, so that a conversation stored twice cannot hide another
    that lost a message.
    """
    return sum(max(0, count - stored.get(sender, 0)) for sender, count in sent.items())


def level_summary(turns: Sequence[Turn], wall_seconds: float, stored: Mapping[str, int]) -> Dict[str, Any]:
    """p50/p95 of the answered turns, answered messages per second, sent, stored, lost and errors."""
    answered = [turn.seconds * 1000 for turn in turns if turn.ok]
    sent = sent_per_sender(turns)
    summary: Dict[str, Any] = percentiles(answered) if answered else {"messages": 0, "p50_ms": None, "p95_ms": None}
    return {
        **summary,
        "max_ms": round(max(answered), 1) if answered else None,
        "seconds": round(wall_seconds, 2),
        "messages_per_second": round(len(answered) / wall_seconds, 2) if wall_seconds > 0 else 0.0,
        "sent": sum(sent.values()),
        "stored": sum(min(stored.get(sender, 0), count) for sender, count in sent.items()),
        "lost": lost_messages(sent, stored),
        "errors": sum(not turn.ok for turn in turns),
    }


def stage_of(action_name: str | None) -> str:
    """Which stage an action's time belongs to: a custom action calls the action server."""
    from rasa.shared.core.constants import DEFAULT_ACTION_NAMES

    if action_name and action_name.startswith("utter_"):
        return RESPONSES
    if action_name in DEFAULT_ACTION_NAMES:
        return RASA_ACTIONS
    return CUSTOM_ACTIONS


def turn_stages(turns: Sequence[Turn], events: Sequence[StoredEvent]) -> List[Dict[str, float]]:
    """Splits each of one sender's turns into `STAGES`, in seconds, from Rasa's event timestamps.

    Rasa stamps the `user` event once the message is parsed, and each `action`
    event once the action ran (after predicting it). So the time from sending to
    the `user` event is HTTP, the lock, loading the conversation and NLU; the
    gap before each action event is predicting and running that action; and
    what follows the last one is storing the conversation and replying. The
    stages of a turn add up to what the visitor waited. Turns are paired with
    `user` events in order; when they cannot be (a message lost or failed),
    none is split.
    """
    users = [index for index, event in enumerate(events) if event.kind == "user"]
    if len(users) != len(turns) or not all(turn.ok for turn in turns):
        return []
    split: List[Dict[str, float]] = []
    for turn, start, end in zip(turns, users, users[1:] + [len(events)]):
        stages = dict.fromkeys(STAGES, 0.0)
        previous = events[start].timestamp
        stages[RECEIVED_TO_PARSED] = previous - turn.started
        for event in events[start + 1:end]:
            if event.kind == "action":
                stages[stage_of(event.name)] += event.timestamp - previous
                previous = event.timestamp
        stages[AFTER_LAST_ACTION] = turn.finished - previous
        split.append(stages)
    return split


def mean_stages_ms(turns: Sequence[Turn], events: Mapping[str, Sequence[StoredEvent]]) -> Dict[str, Any]:
    """The mean of each stage over every turn that could be split; means add up to the mean turn."""
    by_sender: Dict[str, List[Turn]] = defaultdict(list)
    for turn in turns:
        by_sender[turn.sender].append(turn)
    split = [stages for sender, own in by_sender.items() for stages in turn_stages(own, events.get(sender, []))]
    if not split:
        return {"turns": 0}
    means = {stage: round(1000 * sum(s[stage] for s in split) / len(split), 1) for stage in STAGES}
    return {"turns": len(split), **means}


# --- Where the CPU goes: every process's CPU time from /proc -------------------------------


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a live process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every core spent not idle since boot (the first line of /proc/stat)."""
    values = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _process_table() -> Dict[int, Tuple[int, str, List[str]]]:
    """Every process: its parent, its name and its command line."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        table[int(stat.parent.name)] = (int(text.rsplit(")", 1)[1].split()[1]), name, command)
    return table


def process_label(command: Sequence[str]) -> str:
    """A readable name for one of the benchmark's server processes, each replica with its port."""
    port = command[command.index("--port") + 1] if "--port" in command[:-1] else ""
    if "assistant.rasa_server" in command:
        return f"Rasa :{port}"
    if "assistant.action_server" in command:
        return f"action server :{port}"
    if "review.event_consumer" in command:
        return "review consumer"
    if "review" in command and "serve" in command:
        return "review app"
    if "assistant.cluster" in command:
        return "cluster launcher"
    if command and command[0].endswith("haproxy"):
        return "HAProxy"
    if "run" in command and any(part.endswith("rasa") for part in command[:2]):
        return "moodbot Rasa"
    return Path(command[0]).name if command and command[0] else "?"


def labelled_processes(roots: Sequence[int], shared_services: bool = False) -> Dict[int, str]:
    """The processes of a setup (`roots` and all their descendants), and the machine's servers it uses."""
    table = _process_table()
    children: Dict[int, List[int]] = defaultdict(list)
    for pid, (parent, _name, _command) in table.items():
        children[parent].append(pid)
    labels: Dict[int, str] = {}
    pending = [pid for pid in roots if pid in table]
    while pending:
        pid = pending.pop()
        labels[pid] = process_label(table[pid][2])
        pending += children[pid]
    if shared_services:
        labels.update({pid: SHARED_SERVICES[name] for pid, (_p, name, _c) in table.items() if name in SHARED_SERVICES})
    labels[os.getpid()] = LOAD_GENERATOR
    return labels


def cpu_snapshot(labels: Mapping[int, str]) -> Tuple[float, Dict[int, Tuple[str, float]]]:
    """The machine's busy CPU time and each labelled process's, at one moment."""
    seconds = {pid: (label, process_cpu_seconds(pid)) for pid, label in labels.items()}
    return machine_busy_seconds(), {pid: (label, cpu) for pid, (label, cpu) in seconds.items() if cpu is not None}


def cpu_by_process(
    before: Tuple[float, Dict[int, Tuple[str, float]]],
    after: Tuple[float, Dict[int, Tuple[str, float]]],
    messages: int,
    wall_seconds: float,
) -> Dict[str, Dict[str, float]]:
    """CPU seconds per process label between two snapshots, per message and as a share of the machine.

    A process started in between counts from zero. What no labelled process
    used is "everything else on the machine": others' work on the shared cores.
    """
    used: Dict[str, float] = defaultdict(float)
    for pid, (label, cpu) in after[1].items():
        used[label] += cpu - before[1].get(pid, (label, 0.0))[1]
    used[EVERYTHING_ELSE] = max(0.0, after[0] - before[0] - sum(used.values()))
    capacity = (os.cpu_count() or 1) * wall_seconds
    return {
        label: {
            "cpu_seconds": round(seconds, 2),
            "ms_per_message": round(1000 * seconds / messages, 1) if messages else None,
            "share_of_machine": round(seconds / capacity, 3) if capacity else None,
        }
        for label, seconds in sorted(used.items(), key=lambda item: -item[1])
    }


# --- Talking to a setup --------------------------------------------------------------------


def rest_headers() -> Dict[str, str]:
    """The bearer token when the REST channel requires one (`REST_TOKEN`); moodbot ignores it."""
    token = os.environ.get("REST_TOKEN", "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str, timeout: float) -> Turn:
    """One message over REST; any failure is a turn that did not get its reply."""
    started = time.time()
    try:
        async with session.post(
            f"{url}{REST_PATH}", json={"sender": sender, "message": text},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            await response.read()
            ok = response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        logger.warning("%s: %s", sender, type(error).__name__)
        ok = False
    return Turn(sender, text, started, time.time(), ok)


async def visitor(
    session: aiohttp.ClientSession, url: str, senders: Sequence[str], conversation: Sequence[str], timeout: float
) -> List[Turn]:
    """One visitor: a conversation per sender, each message once the previous reply arrived."""
    turns = []
    for sender in senders:
        for text in conversation:
            turns.append(await send(session, url, sender, text, timeout))
    return turns


async def run_level(target: Target, level: Level, tag: str, timeout: float) -> Tuple[List[Turn], float]:
    """Runs `level.visitors` visitors at once; returns every turn and the wall time of the level."""
    senders = [
        [f"load-{tag}-{v}-{c}-{uuid.uuid4().hex[:6]}" for c in range(level.conversations_per_visitor)]
        for v in range(level.visitors)
    ]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers=rest_headers()) as session:
        started = time.monotonic()
        results = await asyncio.gather(
            *(visitor(session, target.url, own, target.conversation, timeout) for own in senders)
        )
        wall = time.monotonic() - started
    return [turn for turns in results for turn in turns], wall


async def parse_timings(parse_url: str, texts: Sequence[str], rounds: int = PARSE_ROUNDS) -> Dict[str, float]:
    """NLU alone: p50/p95 of `/model/parse` on the conversation's messages, one at a time."""
    timings = []
    async with aiohttp.ClientSession() as session:
        for _ in range(rounds):
            for text in texts:
                started = time.perf_counter()
                async with session.post(f"{parse_url}/model/parse", json={"text": text}) as response:
                    await response.read()
                    response.raise_for_status()
                timings.append(1000 * (time.perf_counter() - started))
    return percentiles(timings)


async def measure(target: Target, plan: Plan) -> Dict[str, Any]:
    """Warms the setup up, then runs every level and reads back what was stored."""
    logger.info("%s: warming up", target.name)
    await run_level(target, Level(plan.warm_up_visitors, 1), "warm-up", plan.timeout_seconds)
    result: Dict[str, Any] = {"startup_seconds": round(target.startup_seconds, 1), **target.notes, "levels": {}}
    for level in plan.levels:
        labels = target.processes()
        before = cpu_snapshot(labels)
        turns, wall = await run_level(target, level, f"{target.name.split()[0]}-{level.visitors}", plan.timeout_seconds)
        after = cpu_snapshot(labels)
        events = await target.stored_events(sorted({turn.sender for turn in turns}))
        summary = level_summary(turns, wall, stored_per_sender(events))
        summary["stages_ms"] = mean_stages_ms(turns, events)
        summary["cpu"] = cpu_by_process(before, after, summary["messages"], wall)
        result["levels"][str(level.visitors)] = summary
        logger.info("%s, %d visitors: %s", target.name, level.visitors,
                    {k: v for k, v in summary.items() if k not in ("stages_ms", "cpu")})
    result["saturated_messages_per_second"] = max(
        level["messages_per_second"] for level in result["levels"].values()
    )
    if target.parse_url:
        result["nlu_parse_ms"] = await parse_timings(target.parse_url, target.conversation)
    return result


# --- Reading back what a setup stored ------------------------------------------------------


def sql_stored_events(database_url: str) -> StoredEvents:
    """Reads `user` and `action` events from Rasa's `events` table (`review.tables`), oldest first."""
    from review.tables import events as events_table

    def read(senders: Sequence[str]) -> Dict[str, List[StoredEvent]]:
        stored: Dict[str, List[StoredEvent]] = {sender: [] for sender in senders}
        engine = sa.create_engine(database_url)
        try:
            with engine.connect() as connection:
                for start in range(0, len(senders), 500):
                    rows = connection.execute(
                        sa.select(
                            events_table.c.sender_id, events_table.c.type_name,
                            events_table.c.action_name, events_table.c.timestamp,
                        )
                        .where(events_table.c.sender_id.in_(senders[start:start + 500]))
                        .where(events_table.c.type_name.in_(("user", "action")))
                        .order_by(events_table.c.id)
                    )
                    for sender, kind, action, timestamp in rows:
                        stored[sender].append(StoredEvent(kind, action, float(timestamp)))
        finally:
            engine.dispose()
        return stored

    async def read_in_thread(senders: Sequence[str]) -> Dict[str, List[StoredEvent]]:
        return await asyncio.to_thread(read, list(senders))

    return read_in_thread


def api_stored_events(rasa_url: str) -> StoredEvents:
    """Reads the events of each sender from Rasa's HTTP API (moodbot's in-memory tracker store)."""

    async def read(senders: Sequence[str]) -> Dict[str, List[StoredEvent]]:
        at_once = asyncio.Semaphore(TRACKER_READS_AT_ONCE)

        async def one(session: aiohttp.ClientSession, sender: str) -> List[StoredEvent]:
            async with at_once, session.get(f"{rasa_url}/conversations/{sender}/tracker") as response:
                response.raise_for_status()
                tracker = await response.json()
            return [
                StoredEvent(event["event"], event.get("name"), float(event["timestamp"]))
                for event in tracker.get("events", []) if event["event"] in ("user", "action")
            ]

        async with aiohttp.ClientSession() as session:
            stored = await asyncio.gather(*(one(session, sender) for sender in senders))
        return dict(zip(senders, stored))

    return read


# --- Starting the setups -------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether nothing listens on this loopback port."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port(replicas: int, action_servers: int, attempts: int = 50) -> int:
    """A `CLUSTER_PORT` whose whole block is free: itself, +1, the replicas' +10… and the action servers' +60…"""
    for _ in range(attempts):
        public = free_port()
        needed = [public + 1, *range(public + 10, public + 10 + replicas),
                  *range(public + 60, public + 60 + action_servers)]
        if all(port < 65536 and port_is_free(port) for port in needed):
            return public
    raise RuntimeError("no free block of ports for the cluster")


@contextlib.contextmanager
def single_process(workdir: Path) -> Iterator[Target]:
    """`make run`'s action server and Rasa server on free ports and their own SQLite database.

    As `tests.servers.start_assistant` starts them, plus Rasa's HTTP API for
    `/model/parse` (routes only; a turn does not pass through them).
    """
    database_url = f"sqlite:///{workdir}/load.db"
    rasa_port, actions_port = free_port(), free_port()
    env = {"DATABASE_URL": database_url, "ACTIONS_PORT": str(actions_port),
           "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32)}
    env.update(service_environment.endpoint_variables(env))
    rasa = launch.rasa_server(rasa_port)
    services = [launch.action_server(actions_port), dataclasses.replace(rasa, command=[*rasa.command, "--enable-api"])]
    processes: List[subprocess.Popen] = []
    started = time.monotonic()
    try:
        for service in services:
            processes.append(launch.start(service, env=env))
            launch.wait_until_ready(service, processes[-1])
        url = f"http://127.0.0.1:{rasa_port}"
        yield Target(
            name=SINGLE, url=url, conversation=[], stored_events=sql_stored_events(database_url),
            processes=lambda: labelled_processes([process.pid for process in processes]),
            parse_url=url, startup_seconds=time.monotonic() - started,
        )
    finally:
        launch.stop(processes)


def _lines(process: subprocess.Popen) -> "queue.Queue[str | None]":
    """Reads the process's output in a thread, so that it never blocks on a full pipe."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout or []:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: "queue.Queue[str | None]", wanted: str, timeout: float) -> None:
    """Waits until a line containing `wanted` was printed; raises when the process ended or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            raise RuntimeError(f"the process ended before printing {wanted!r}")
        if wanted in line:
            return
    raise TimeoutError(f"no {wanted!r} in {timeout}s")


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM (the launchers stop their services cleanly on it), then SIGKILL if it hangs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def delete_broker_queue(queue_name: str, exchange: str) -> None:
    """Removes the run's RabbitMQ queue and exchange, which outlive the cluster (durable)."""
    import pika

    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
    try:
        channel = connection.channel()
        channel.queue_delete(queue_name)
        channel.exchange_delete(exchange)
    finally:
        connection.close()


@contextlib.contextmanager
def cluster(replicas: int, action_servers: int) -> Iterator[Target]:
    """`python -m assistant.cluster` on a temporary PostgreSQL database, its own broker queue and free ports."""
    from tests.servers import temporary_postgres_database

    suffix = uuid.uuid4().hex[:8]
    public = free_cluster_port(replicas, action_servers)
    with temporary_postgres_database("load_bench") as database_url:
        env = {
            **os.environ, "DATABASE_URL": database_url,
            "CLUSTER_RASA_REPLICAS": str(replicas), "CLUSTER_ACTION_SERVERS": str(action_servers),
            "CLUSTER_PORT": str(public), "REVIEW_PORT": str(free_port()),
            "RABBITMQ_QUEUE": f"review_events_load_{suffix}", "RABBITMQ_EXCHANGE": f"rasa-exchange-load-{suffix}",
            "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        }
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant.cluster"], cwd=PROJECT_ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )
        try:
            wait_for_line(_lines(process), CLUSTER_READY_LINE, STARTUP_SECONDS)
            yield Target(
                name=CLUSTER, url=f"http://127.0.0.1:{public}", conversation=[],
                stored_events=sql_stored_events(database_url),
                processes=lambda: labelled_processes([process.pid], shared_services=True),
                startup_seconds=time.monotonic() - started,
                notes={"rasa_replicas": replicas, "action_servers": action_servers},
            )
        finally:
            stop_process_group(process)
            delete_broker_queue(env["RABBITMQ_QUEUE"], env["RABBITMQ_EXCHANGE"])


@contextlib.contextmanager
def moodbot(workdir: Path) -> Iterator[Target]:
    """`rasa init`'s moodbot, trained here, served by `rasa run --enable-api` (in-memory tracker store)."""
    rasa = str(Path(sys.executable).parent / "rasa")
    project = workdir / "moodbot"
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    project.mkdir()  # `rasa init` refuses a folder that does not exist
    started = time.monotonic()
    training_log = workdir / "moodbot-training.log"
    with open(training_log, "w") as log:
        trained = subprocess.run([rasa, "init", "--no-prompt", "--init-dir", str(project)], cwd=workdir, env=env,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    if trained.returncode != 0:
        raise RuntimeError("rasa init failed:\n" + "\n".join(training_log.read_text().splitlines()[-15:]))
    training = time.monotonic() - started
    port = free_port()
    service = launch.Service(
        name="moodbot", health_url=f"http://127.0.0.1:{port}/", address=f"http://127.0.0.1:{port}",
        command=[rasa, "run", "--enable-api", "--interface", "127.0.0.1", "--port", str(port), "--model", "models"],
    )
    with open(workdir / "moodbot.log", "w") as log:
        process = subprocess.Popen(service.command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    started = time.monotonic()
    try:
        launch.wait_until_ready(service, process)
        yield Target(
            name=MOODBOT, url=service.address, conversation=[], stored_events=api_stored_events(service.address),
            processes=lambda: labelled_processes([process.pid]), parse_url=service.address,
            startup_seconds=time.monotonic() - started, notes={"training_seconds": round(training, 1)},
        )
    finally:
        stop_process_group(process)


# --- The report ----------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def latency_table(setups: Mapping[str, Mapping[str, Any]]) -> str:
    """p50/p95 per turn, throughput, sent, stored and lost, per setup and level."""
    rows = ["| setup | visitors | messages | p50 (ms) | p95 (ms) | max (ms) | messages/s | sent | stored | lost "
            "| errors |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, setup in setups.items():
        for visitors, level in setup["levels"].items():
            rows.append(
                f"| {name} | {visitors} | {level['messages']} | {_ms(level['p50_ms'])} | {_ms(level['p95_ms'])} | "
                f"{_ms(level['max_ms'])} | {level['messages_per_second']:.1f} | {level['sent']} | "
                f"{level['stored']} | {level['lost']} | {level['errors']} |"
            )
    return "\n".join(rows)


def targets_table(setups: Mapping[str, Mapping[str, Any]], busiest: str) -> str:
    """The issue's targets per assistant setup: p95 at the busiest level, nothing lost, 2× moodbot."""
    baseline = setups.get(MOODBOT, {}).get("saturated_messages_per_second")
    rows = [f"| setup | saturated messages/s | × moodbot (target ≥ 2) | p95 at {busiest} visitors (target ≤ 1000 ms) "
            "| lost, all levels (target 0) | NLU alone, /model/parse p50 / p95 (ms) |",
            "|---|---|---|---|---|---|"]
    for name, setup in setups.items():
        ratio = f"{setup['saturated_messages_per_second'] / baseline:.2f}" if baseline else "—"
        parse = setup.get("nlu_parse_ms")
        nlu = f"{parse['p50_ms']:.0f} / {parse['p95_ms']:.0f}" if parse else "— (no HTTP API on the replicas)"
        lost = sum(level["lost"] for level in setup["levels"].values())
        rows.append(
            f"| {name} | {setup['saturated_messages_per_second']:.1f} | {ratio} | "
            f"{_ms(setup['levels'][busiest]['p95_ms'])} | {lost} | {nlu} |"
        )
    return "\n".join(rows)


def stages_table(setups: Mapping[str, Mapping[str, Any]]) -> str:
    """Mean milliseconds of each stage of a turn, per setup and level (columns add up to the mean turn)."""
    columns = [(name, visitors) for name, setup in setups.items() for visitors in setup["levels"]]
    rows = ["| stage | " + " | ".join(f"{name}, {visitors}" for name, visitors in columns) + " |",
            "|---|" + "---|" * len(columns)]
    for stage in (*STAGES, "turns"):
        cells = [setups[name]["levels"][visitors]["stages_ms"].get(stage) for name, visitors in columns]
        rows.append(f"| {stage} | " + " | ".join("—" if cell is None else f"{cell:g}" for cell in cells) + " |")
    return "\n".join(rows)


def cpu_table(setups: Mapping[str, Mapping[str, Any]], busiest: str) -> str:
    """CPU per process at the busiest level: seconds, milliseconds per answered message, share of all cores."""
    rows = [f"| setup | process | CPU s | CPU ms per message | share of the {os.cpu_count()} cores |",
            "|---|---|---|---|---|"]
    for name, setup in setups.items():
        for label, cpu in setup["levels"][busiest]["cpu"].items():
            rows.append(f"| {name} | {label} | {cpu['cpu_seconds']:.1f} | {_ms(cpu['ms_per_message'])} | "
                        f"{100 * cpu['share_of_machine']:.0f}% |")
    return "\n".join(rows)


def cpu_ms_per_message(cpu: Mapping[str, Mapping[str, Any]], prefixes: Sequence[str]) -> float:
    """CPU milliseconds per answered message of the processes whose label starts with one of `prefixes`."""
    return sum(entry["ms_per_message"] or 0.0 for label, entry in cpu.items() if label.startswith(tuple(prefixes)))


def findings(setups: Mapping[str, Mapping[str, Any]], busiest: str) -> str:
    """One line a setup, from the figures alone: how busy the cores were, for whom, and the largest stage."""
    lines = []
    for name, setup in setups.items():
        level = setup["levels"][busiest]
        cpu, stages = level["cpu"], level["stages_ms"]
        busy = sum(entry["share_of_machine"] or 0.0 for entry in cpu.values())
        others = cpu.get(EVERYTHING_ELSE, {}).get("share_of_machine") or 0.0
        line = (
            f"- {name}, {busiest} visitors: the cores were {100 * busy:.0f}% busy, {100 * others:.0f} points of it "
            f"others' work; Rasa used {cpu_ms_per_message(cpu, ('Rasa :', 'moodbot Rasa')):.0f} ms of CPU a message, "
            f"the action servers {cpu_ms_per_message(cpu, ('action server',)):.0f} ms"
        )
        if stages.get("turns"):
            largest = max(STAGES, key=lambda stage: stages[stage])
            line += f"; the largest stage was {largest}: {stages[largest]:.0f} ms of the mean turn"
        lines.append(line + ".")
    return "\n".join(lines + ceilings(setups))


def own_cpu_ms_per_message(cpu: Mapping[str, Mapping[str, Any]]) -> float:
    """CPU ms a message of the setup's own processes: all but others' work and the load generator."""
    return sum(entry["ms_per_message"] or 0.0 for label, entry in cpu.items()
               if label not in (EVERYTHING_ELSE, LOAD_GENERATOR))


def ceilings(setups: Mapping[str, Mapping[str, Any]]) -> List[str]:
    """What CPU alone allows each setup, from its CPU a message at its saturated level, against 2× moodbot.

    A Rasa process runs one Python event loop, but TensorFlow computes on
    threads of its own, so how many cores one process can use is measured too.
    """
    cores = os.cpu_count() or 1
    lines = []
    for name, setup in setups.items():
        saturated = max(setup["levels"].values(), key=lambda level: level["messages_per_second"])
        own = own_cpu_ms_per_message(saturated["cpu"])
        rasa = [entry["share_of_machine"] or 0.0 for label, entry in saturated["cpu"].items()
                if label.startswith(("Rasa :", "moodbot Rasa"))]
        if own and rasa:
            lines.append(
                f"- CPU ceiling, {name}: {own:.0f} ms of CPU a message in all its processes at its saturated "
                f"level, so at most {cores * 1000 / own:.0f} messages a second with the {cores} cores to itself; "
                f"its busiest Rasa process used {cores * max(rasa):.2f} cores there."
            )
    if MOODBOT in setups and CLUSTER in setups:
        wanted = 2 * setups[MOODBOT]["saturated_messages_per_second"]
        lines.append(f"- 2× moodbot's {wanted / 2:.1f} messages a second is {wanted:.0f}: on {cores} cores the "
                     f"cluster would need at most {cores * 1000 / wanted:.0f} ms of CPU a message in all its "
                     "processes.")
    return lines


def markdown(results: Mapping[str, Any]) -> str:
    """The "Load" section of bench/README.md, every figure from one run."""
    setups = results["setups"]
    busiest = str(max(level["visitors"] for level in results["plan"]["levels"]))
    machine = results["machine"]
    plan, cluster_setup = results["plan"], setups.get(CLUSTER, {})
    lengths = {name: len(messages) for name, messages in plan["conversations"].items()}
    return f"""{SECTION_TITLE}

Written by `make bench-load` (`bench/load.py`, {results['date']} UTC) on {machine['cores']} cores
({machine['cpu']}); every figure comes from that one run, raw figures in `bench/load_results.json`.
Others' test runs shared the cores (load average {machine['load_average_before']} before the
run; "everything else on the machine" below is their share), so the figures are noisy.

- Visitors: each is one sender id over REST that sends its next message once the reply to the
  previous one came back (`bench/load.yml`: the assistant's typical enquiry of {lengths['assistant']}
  messages, moodbot's own conversation of {lengths['moodbot']}), each level after a warm-up.
- Saturated: the most messages a second of any level; with {busiest} visitors always waiting for a
  reply, the servers never idle.
- Lost: messages sent minus the `user` events the tracker store holds for those senders
  afterwards (the `events` table; moodbot's in-memory store through its HTTP API).
- Setups: {SINGLE}: `make run`'s action server and Rasa server, SQLite, without the review app;
  {CLUSTER}: `make cluster` with {cluster_setup.get('rasa_replicas', '?')} Rasa replicas and
  {cluster_setup.get('action_servers', '?')} action servers behind HAProxy, PostgreSQL, the Redis lock
  store, RabbitMQ, the review app and its consumer; {MOODBOT}: `rasa init` trained here
  ({setups.get(MOODBOT, {}).get('training_seconds', '?')} s) and served by `rasa run`.

{latency_table(setups)}

{targets_table(setups, busiest)}

Where a turn's time goes: each turn split by the timestamps Rasa wrote on its own events
(mean ms per turn; a column adds up to the mean turn):

{stages_table(setups)}

Where the CPU goes with {busiest} visitors, per process (each Rasa replica and action server by its port):

{cpu_table(setups, busiest)}

{findings(setups, busiest)}
"""


def load_section(readme: str) -> str | None:
    """The report's "Load" section, as `make bench` must keep it when it rewrites the report."""
    lines = readme.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip() == SECTION_TITLE]
    if not starts:
        return None
    end = next((i for i in range(starts[0] + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "".join(lines[starts[0]:end]).rstrip("\n") + "\n"


def replace_section(readme: str, section: str) -> str:
    """`readme` with its "Load" section replaced by `section` (or `section` appended when it has none)."""
    lines = readme.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip() == SECTION_TITLE]
    if not starts:
        return readme.rstrip("\n") + "\n\n" + section
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")


def machine_description() -> Dict[str, Any]:
    """Cores, CPU model and load average, for the report."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "cpu": cpu,
            "load_average_before": " ".join(f"{value:.2f}" for value in os.getloadavg())}


def run_setup(starter: Callable[[], contextlib.AbstractContextManager], conversation: List[str],
              plan: Plan) -> Dict[str, Any]:
    """Starts a setup, measures it, stops it."""
    with starter() as target:
        target.conversation = conversation
        return asyncio.run(measure(target, plan))


def measure_setups(names: Sequence[str], replicas: int, action_servers: int) -> Dict[str, Any]:
    """Starts, measures and stops each setup in turn, all in one run on this machine."""
    plan = Plan.load()
    results: Dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                               "machine": machine_description(), "plan": dataclasses.asdict(plan), "setups": {}}
    with tempfile.TemporaryDirectory() as scratch:
        starters = {
            MOODBOT: (lambda: moodbot(Path(scratch)), plan.conversations["moodbot"]),
            SINGLE: (lambda: single_process(Path(scratch)), plan.conversations["assistant"]),
            CLUSTER: (lambda: cluster(replicas, action_servers), plan.conversations["assistant"]),
        }
        for name in names:
            logger.info("starting the %s", name)
            starter, conversation = starters[name]
            results["setups"][name] = run_setup(starter, conversation, plan)
    return results


def main(argv: List[str] | None = None) -> int:
    """Runs the chosen setups in one go, writes the JSON results and the README section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setups", nargs="+", default=[MOODBOT, SINGLE, CLUSTER],
                        choices=[MOODBOT, SINGLE, CLUSTER], help="which setups, in this order")
    parser.add_argument("--replicas", type=int, default=3, help="Rasa replicas of the cluster")
    parser.add_argument("--action-servers", type=int, default=2, help="action servers of the cluster")
    parser.add_argument("--no-readme", action="store_true", help="do not write bench/README.md")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: write the report again from bench/load_results.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.report_only:
        results = json.loads(RESULTS_FILE.read_text())
    else:
        results = measure_setups(args.setups, args.replicas, args.action_servers)
        RESULTS_FILE.write_text(json.dumps(results, indent=2) + "\n")
    section = markdown(results)
    if not args.no_readme:
        README.write_text(replace_section(README.read_text(), section))
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
