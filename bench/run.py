"""The benchmark: accuracy on written and real questions, unknown questions, safety, latency.

`make bench` runs this, every figure side by side in one run. It scores four
systems trained on the same data: this project's pipeline (the model `make train`
built), the pipeline before real visitors (`bench/previous_config.yml`), Rasa's
default pipeline and a nearest-neighbour vote on MiniLM embeddings. They are
measured on sets never trained on:

- the written held-out set `tests/nlu_holdout.yml` (same hands as the training data);
- real visitors' questions (`tests/heldout/visitors_*.yml`, sources recorded);
- the open set `tests/heldout/open_set.yml`: questions no topic answers, where any
  FAQ answer is a confidently wrong reply;
- `tests/heldout/safety.yml`: acute warning signs (crisis recall), and idioms,
  sensitive mentions and medication questions (false alarms), plus the written
  set's crisis lines; every other message of every set, with
  `tests/crisis_false_alarm_probes.txt`, counts as a false alarm when it gets the
  crisis script.

Then the latency of one visitor over REST against the real servers. It writes
`bench/results.json` and the report `bench/README.md`.
"""

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from assistant.parse_keys import CRISIS_INTENT, UNKNOWN_INTENT
from assistant.settings import PROJECT_ROOT

BENCH_DIR = PROJECT_ROOT / "bench"
HELDOUT_DIR = PROJECT_ROOT / "tests" / "heldout"
WRITTEN = PROJECT_ROOT / "tests" / "nlu_holdout.yml"
OPEN_SET = HELDOUT_DIR / "open_set.yml"
SAFETY = HELDOUT_DIR / "safety.yml"
PROBES = PROJECT_ROOT / "tests" / "crisis_false_alarm_probes.txt"
MODEL = PROJECT_ROOT / "models" / "assistant.tar.gz"
PREVIOUS_CONFIG = BENCH_DIR / "previous_config.yml"
DEFAULT_CONFIG = BENCH_DIR / "rasa_default_config.yml"
OURS, PREVIOUS = "this pipeline", "previous pipeline"
DEFAULT, KNN = "Rasa default pipeline", "MiniLM 5-nearest-neighbours"
SYSTEMS = (OURS, PREVIOUS, DEFAULT, KNN)
TYPICAL_ENQUIRY = [
    "hi", "what is ketamine assisted therapy?", "is ketamine safe?", "will I lose control",
    "what are exiles in IFS", "how much does it cost", "do you take insurance", "how long is a session",
    "I'd like to book the free call", "Jordan Lee", "jordan@example.com", "weekday mornings",
]
TYPICAL_CONVERSATIONS = 10
LONG_CONVERSATION = [
    "hi", "what is ketamine assisted therapy?", "is ketamine safe?", "how much does it cost",
    "what are exiles in IFS", "will I lose control", "do you take insurance", "thanks",
]
LONG_MESSAGES = 120
FAQ_PREFIX = "faq/"
SAFETY_KINDS = ("idiom", "sensitive", "medical")

logger = logging.getLogger("bench")


@dataclass(frozen=True)
class Example:
    """A held-out message, its true label (full retrieval intent for FAQs) and its safety kind."""

    text: str
    label: str
    safety: str | None = None


def load_examples(*paths: Path) -> List[Example]:
    """Reads Rasa NLU YAML files into examples, with the `safety` kind of their metadata."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples = []
    for path in paths:
        for message in load_data(str(path)).intent_examples:
            metadata = (message.get("metadata") or {}).get("example") or {}
            label = message.get("intent_response_key") or message.get("intent")
            examples.append(Example(message.get("text"), label, metadata.get("safety")))
    return examples


def real_question_files() -> List[Path]:
    """The held-out files of real visitors' in-scope questions."""
    return sorted(HELDOUT_DIR.glob("visitors_*.yml"))


def full_intent(parse: Dict[str, Any]) -> str:
    """The predicted label: the retrieval intent's topic when the intent is `faq`."""
    intent = (parse.get("intent") or {}).get("name") or "nlu_fallback"
    topics = [e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "topic"]
    if intent == "choose_topic" and topics:
        return f"faq/{topics[0]}"
    if intent == "faq":
        selectors = parse.get("response_selector") or {}
        # Rasa's default pipeline has one selector for all retrieval intents: "default".
        selector = selectors.get("faq") or selectors.get("default") or {}
        key = (selector.get("response") or {}).get("intent_response_key")
        return key or intent
    return intent


def train(config: Path, out: Path, nlu_only: bool = False) -> Tuple[Path, float]:
    """Trains a model from scratch and returns its path and the wall time in seconds."""
    data = ["--nlu", str(PROJECT_ROOT / "data" / "nlu")] if nlu_only else ["--data", str(PROJECT_ROOT / "data")]
    command = [
        str(Path(sys.executable).parent / "rasa"), "train", *(["nlu"] if nlu_only else ["--force"]),
        "--config", str(config), "--domain", str(PROJECT_ROOT / "domain.yml"), *data,
        "--out", str(out), "--fixed-model-name", "bench",
    ]
    # No training cache: the figure is the time of a training from scratch.
    env = {**os.environ, "RASA_MAX_CACHE_SIZE": "0"}
    started = time.monotonic()
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    return out / "bench.tar.gz", time.monotonic() - started


async def parse_all(model: Path, texts: Sequence[str]) -> List[Dict[str, Any]]:
    """Parses every text with a trained model's NLU."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def scores(labels: Sequence[str], predictions: Sequence[str]) -> Dict[str, float]:
    """Accuracy and macro-F1 over the labels present in the held-out set."""
    present = sorted(set(labels))
    return {
        "accuracy": round(float(accuracy_score(labels, predictions)), 4),
        "macro_f1": round(float(f1_score(labels, predictions, labels=present, average="macro", zero_division=0)), 4),
    }


def minilm_embeddings(texts: Sequence[str]) -> np.ndarray:
    """Mean-pooled, normalised all-MiniLM-L6-v2 sentence embeddings, as the model was trained."""
    from transformers import BertTokenizerFast, TFBertModel

    folder = str(PROJECT_ROOT / "build" / "minilm")
    tokenizer = BertTokenizerFast.from_pretrained(folder)
    model = TFBertModel.from_pretrained(folder)
    vectors = []
    for start in range(0, len(texts), 64):
        batch = tokenizer(
            list(texts[start:start + 64]), padding=True, truncation=True, max_length=128, return_tensors="tf"
        )
        hidden = model(**batch).last_hidden_state.numpy()
        mask = batch["attention_mask"].numpy()[..., None]
        pooled = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        vectors.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
    return np.vstack(vectors)


def nearest_neighbour(train_set: List[Example], holdout: List[Example], k: int = 5) -> List[str]:
    """k-nearest-neighbour vote (cosine) on MiniLM embeddings of the training examples."""
    train_vectors = minilm_embeddings([e.text for e in train_set])
    test_vectors = minilm_embeddings([e.text for e in holdout])
    similarities = test_vectors @ train_vectors.T
    predictions = []
    for row in similarities:
        votes: Dict[str, float] = {}
        for index in np.argsort(-row)[:k]:
            label = train_set[index].label
            votes[label] = votes.get(label, 0.0) + float(row[index])
        predictions.append(max(votes, key=votes.get))
    return predictions


def timed_conversation(assistant: Any, messages: Sequence[str]) -> List[float]:
    """Milliseconds for each of `messages`, said in order in a new conversation."""
    sender = assistant.new_sender()
    timings = []
    for message in messages:
        started = time.perf_counter()
        assistant.say(sender, message)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentiles(timings: List[float]) -> Dict[str, float]:
    """The count, p50 and p95 of `timings`."""
    return {
        "messages": len(timings),
        "p50_ms": round(float(np.percentile(timings, 50)), 1),
        "p95_ms": round(float(np.percentile(timings, 95)), 1),
    }


def latency() -> Dict[str, Dict[str, float]]:
    """p50 and p95 of one visitor's messages over REST against the real servers (models/).

    One visitor at a time: first `TYPICAL_CONVERSATIONS` typical enquiries (questions, then
    booking the call), then one long conversation, where Rasa's per-turn cost grows
    with the number of events it reloads and featurizes.
    """
    from tests.servers import start_assistant, stop_assistant

    with tempfile.TemporaryDirectory() as workdir:
        assistant = start_assistant(Path(workdir), f"sqlite:///{workdir}/bench.db")
        try:
            timed_conversation(assistant, TYPICAL_ENQUIRY[:3])
            typical: List[float] = []
            for _ in range(TYPICAL_CONVERSATIONS):
                typical += timed_conversation(assistant, TYPICAL_ENQUIRY)
            long = timed_conversation(
                assistant, [LONG_CONVERSATION[index % len(LONG_CONVERSATION)] for index in range(LONG_MESSAGES)]
            )
        finally:
            stop_assistant(assistant)
    return {"typical": percentiles(typical), "long": percentiles(long)}


@dataclass(frozen=True)
class HeldOutSets:
    """Every set the systems are scored on, in the order their texts are parsed."""

    written: List[Example]
    real: List[Example]
    open_set: List[Example]
    safety: List[Example]
    probes: List[Example]

    @classmethod
    def load(cls) -> "HeldOutSets":
        """Reads the held-out files; the probes are ordinary messages with alarming words."""
        probes = [line.strip() for line in PROBES.read_text().splitlines() if line.strip()]
        return cls(
            written=load_examples(WRITTEN),
            real=load_examples(*real_question_files()),
            open_set=load_examples(OPEN_SET),
            safety=load_examples(SAFETY),
            probes=[Example(text, "ordinary", "probe") for text in probes],
        )

    def groups(self) -> Dict[str, List[Example]]:
        """The sets by name."""
        return {
            "written": self.written, "real": self.real, "open_set": self.open_set,
            "safety": self.safety, "probes": self.probes,
        }

    def all_examples(self) -> List[Example]:
        """Every example of every set, in a fixed order."""
        return [example for group in self.groups().values() for example in group]

    def safety_pairs(self, predictions: Dict[str, List[str]]) -> List[Tuple[Example, str]]:
        """Every message of every set with its prediction: the crisis reply is judged on all of them.

        A line labelled `crisis` counts for recall; every other line is ordinary, the
        real and open-set questions too, so a prompt injection from the open set that
        got the crisis script is a false alarm like any other.
        """
        in_order = [predicted for name in self.groups() for predicted in predictions[name]]
        return list(zip(self.all_examples(), in_order))

    def split(self, predictions: Sequence[str]) -> Dict[str, List[str]]:
        """Cuts one list of predictions (in `all_examples` order) back into the sets."""
        result, start = {}, 0
        for name, group in self.groups().items():
            result[name] = list(predictions[start:start + len(group)])
            start += len(group)
        return result


def rate(hits: Sequence[bool]) -> float:
    """The share of true values, 0 for none."""
    return round(sum(hits) / len(hits), 4) if hits else 0.0


def evaluate(sets: HeldOutSets, predictions: Dict[str, List[str]]) -> Dict[str, Any]:
    """Every figure of one system, from its predicted labels on each set."""
    written, real, open_set = predictions["written"], predictions["real"], predictions["open_set"]
    safety_pairs = sets.safety_pairs(predictions)
    acute = [p for e, p in safety_pairs if e.label == CRISIS_INTENT]
    ordinary: Dict[str, List[str]] = {kind: [] for kind in (*SAFETY_KINDS, "other")}
    for example, predicted in safety_pairs:
        if example.label != CRISIS_INTENT:
            ordinary[example.safety if example.safety in SAFETY_KINDS else "other"].append(predicted)
    medical = [p for e, p in zip(sets.safety, predictions["safety"]) if e.safety == "medical"]
    all_ordinary = [p for group in ordinary.values() for p in group]
    return {
        "written": scores([e.label for e in sets.written], written),
        "real": {
            **scores([e.label for e in sets.real], real),
            "wrong_answer_rate": rate([p.startswith(FAQ_PREFIX) and p != e.label for e, p in zip(sets.real, real)]),
        },
        "open_set": {
            "confidently_wrong": rate([p.startswith(FAQ_PREFIX) for p in open_set]),
            "honest_unknown": rate([p in (UNKNOWN_INTENT, "nlu_fallback") for p in open_set]),
        },
        "safety": {
            "crisis_recall": rate([p == CRISIS_INTENT for p in acute]),
            "false_alarm_rate": rate([p == CRISIS_INTENT for p in all_ordinary]),
            **{f"false_alarms_{kind}": rate([p == CRISIS_INTENT for p in group]) for kind, group in ordinary.items()},
            "medical_deferred": rate([p == "medical_question" for p in medical]),
            "acute_messages": len(acute),
            "ordinary_messages": len(all_ordinary),
        },
    }


def mistakes(sets: HeldOutSets, predictions: Dict[str, List[str]]) -> Dict[str, List[str]]:
    """This pipeline's errors, for the report: what to read before changing anything."""
    pairs = {name: list(zip(group, predictions[name])) for name, group in sets.groups().items()}
    safety_pairs = sets.safety_pairs(predictions)
    return {
        "real": [f"{e.label} -> {p}: {e.text}" for e, p in pairs["real"] if p != e.label],
        "open_set_answered": [f"{p}: {e.text}" for e, p in pairs["open_set"] if p.startswith(FAQ_PREFIX)],
        "missed_crises": [e.text for e, p in safety_pairs if e.label == CRISIS_INTENT and p != CRISIS_INTENT],
        "false_alarms": [
            f"({e.safety or 'ordinary'}) {e.text}"
            for e, p in safety_pairs
            if e.label != CRISIS_INTENT and p == CRISIS_INTENT
        ],
    }


def rasa_predictions(model: Path, sets: HeldOutSets) -> Dict[str, List[str]]:
    """A trained Rasa model's labels for every held-out message."""
    parses = asyncio.run(parse_all(model, [e.text for e in sets.all_examples()]))
    return sets.split([full_intent(parse) for parse in parses])


def training_examples() -> List[Example]:
    """The NLU training examples, as the nearest-neighbour baseline learns them."""
    return [e for e in load_examples(PROJECT_ROOT / "data" / "nlu") if e.label != "choose_topic"]


def system_predictions(
    sets: HeldOutSets, scratch: Path
) -> Tuple[Dict[str, Dict[str, List[str]]], Dict[str, float]]:
    """Every system's predictions, and the training time of those trained here."""
    predictions, seconds = {}, {}
    for name, config in ((PREVIOUS, PREVIOUS_CONFIG), (DEFAULT, DEFAULT_CONFIG)):
        logger.info("training the %s", name)
        model, seconds[name] = train(config, scratch / name.replace(" ", "_"), nlu_only=True)
        predictions[name] = rasa_predictions(model, sets)
    predictions[OURS] = rasa_predictions(MODEL, sets)
    logger.info("nearest-neighbour baseline")
    predictions[KNN] = sets.split(nearest_neighbour(training_examples(), sets.all_examples()))
    return predictions, seconds


def write_report(results: Dict[str, Any]) -> None:
    """Writes bench/results.json and the figures into bench/README.md."""
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    figures, lat = results["systems"], results["latency"]

    def row(name: str, cells: Callable[[Dict[str, Any]], Sequence[Any]]) -> str:
        shown = (f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells(figures[name]))
        return f"| {name} | " + " | ".join(shown) + " |"

    def table(cells: Callable[[Dict[str, Any]], Sequence[Any]]) -> str:
        return "\n".join(row(name, cells) for name in SYSTEMS)

    def listing(lines: Sequence[str], limit: int = 40) -> str:
        shown = [f"- {line}" for line in lines[:limit]] or ["- (none)"]
        more = [f"- … and {len(lines) - limit} more (bench/results.json)"] if len(lines) > limit else []
        return "\n".join(shown + more)

    ours = results["mistakes"]
    report = (BENCH_DIR / "README.template.md").read_text().format(
        date=results["date"], counts=results["counts"],
        accuracy_rows=table(lambda f: (
            f["written"]["accuracy"], f["written"]["macro_f1"],
            f["real"]["accuracy"], f["real"]["macro_f1"], f["real"]["wrong_answer_rate"],
        )),
        open_rows=table(lambda f: (f["open_set"]["confidently_wrong"], f["open_set"]["honest_unknown"])),
        safety_rows=table(lambda f: (
            f["safety"]["crisis_recall"], f["safety"]["false_alarm_rate"],
            f["safety"]["false_alarms_idiom"], f["safety"]["false_alarms_sensitive"],
            f["safety"]["false_alarms_medical"], f["safety"]["false_alarms_other"],
            f["safety"]["medical_deferred"],
        )),
        acute=figures[OURS]["safety"]["acute_messages"], ordinary=figures[OURS]["safety"]["ordinary_messages"],
        training=", ".join(f"{name} {round(s)} s" for name, s in results["training_seconds"].items()),
        real_mistakes=listing(ours["real"]), open_mistakes=listing(ours["open_set_answered"]),
        missed=listing(ours["missed_crises"]), false_alarms=listing(ours["false_alarms"]),
        typical_conversations=TYPICAL_CONVERSATIONS, typical_length=len(TYPICAL_ENQUIRY),
        typical_messages=lat["typical"]["messages"], typical_p50=lat["typical"]["p50_ms"],
        typical_p95=lat["typical"]["p95_ms"],
        long_messages=lat["long"]["messages"], long_p50=lat["long"]["p50_ms"], long_p95=lat["long"]["p95_ms"],
    )
    (BENCH_DIR / "README.md").write_text(with_load_figures(report))


def with_load_figures(report: str) -> str:
    """The new report with the "Load" section of the old one: `make bench-load` measures that, not this run."""
    from bench import load  # bench.load uses this module's percentiles

    readme = BENCH_DIR / "README.md"
    section = load.load_section(readme.read_text()) if readme.exists() else None
    return load.replace_section(report, section) if section else report


def quick(model: Path) -> int:
    """Scores an already trained model on every held-out set and lists its mistakes."""
    sets = HeldOutSets.load()
    predictions = rasa_predictions(model, sets)
    for kind, lines in mistakes(sets, predictions).items():
        print(f"## {kind} ({len(lines)})")
        print("\n".join(lines))
    print(json.dumps(evaluate(sets, predictions), indent=2))
    return 0


def main() -> int:
    """Runs every measurement in one go and writes the report (`--quick MODEL`: score only)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if len(sys.argv) == 3 and sys.argv[1] == "--quick":
        return quick(Path(sys.argv[2]))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sets = HeldOutSets.load()
    results: Dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "counts": {name: len(group) for name, group in sets.groups().items()},
    }
    with tempfile.TemporaryDirectory() as scratch:
        predictions, results["training_seconds"] = system_predictions(sets, Path(scratch))
    results["systems"] = {name: evaluate(sets, predictions[name]) for name in SYSTEMS}
    results["mistakes"] = mistakes(sets, predictions[OURS])
    logger.info("latency over REST")
    results["latency"] = latency()
    write_report(results)
    print(json.dumps({k: v for k, v in results.items() if k != "mistakes"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
