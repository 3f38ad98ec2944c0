"""The benchmark: accuracy, crisis safety, training time and latency, side by side in one run.

`make bench` runs this. It trains this project's pipeline and Rasa's default
pipeline on the same data (in a temporary folder, so `models/` is untouched),
evaluates both and a nearest-neighbour baseline on the MiniLM embeddings against
the held-out set `tests/nlu_holdout.yml`, measures the crisis detection (the
classifier alone, the safety net alone, both), and the per-message latency over
REST for one visitor against the real servers. It writes `bench/results.json` and
the report `bench/README.md`.
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
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from assistant.settings import PROJECT_ROOT

BENCH_DIR = PROJECT_ROOT / "bench"
HOLDOUT = PROJECT_ROOT / "tests" / "nlu_holdout.yml"
PROBES = PROJECT_ROOT / "tests" / "crisis_false_alarm_probes.txt"
DEFAULT_CONFIG = BENCH_DIR / "rasa_default_config.yml"
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
CRISIS = "crisis"

logger = logging.getLogger("bench")


@dataclass(frozen=True)
class Example:
    """A held-out message and its true label (full retrieval intent for FAQs)."""

    text: str
    label: str


def load_examples(path: Path) -> List[Example]:
    """Reads a Rasa NLU YAML file into (text, full intent) pairs."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [
        Example(m.get("text"), m.get("intent_response_key") or m.get("intent"))
        for m in data.intent_examples
    ]


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


def crisis_figures(
    holdout: List[Example], parses: List[Dict[str, Any]], probe_parses: List[Dict[str, Any]]
) -> Dict[str, Any]:
    """Recall on crisis messages and false alarms on ordinary ones, per detector."""

    def classifier(parse: Dict[str, Any]) -> bool:
        net = parse.get("safety_net") or {}
        if net.get("reason") == "phrase":
            return net.get("classifier_intent") == CRISIS
        return full_intent(parse) == CRISIS

    def rules(parse: Dict[str, Any]) -> bool:
        return (parse.get("safety_net") or {}).get("reason") == "phrase"

    def combined(parse: Dict[str, Any]) -> bool:
        return full_intent(parse) == CRISIS

    crisis = [p for e, p in zip(holdout, parses) if e.label == CRISIS]
    ordinary = [p for e, p in zip(holdout, parses) if e.label != CRISIS]
    seen = {p["text"] for p in ordinary}
    ordinary += [p for p in probe_parses if p["text"] not in seen]
    figures: Dict[str, Any] = {"crisis_messages": len(crisis), "ordinary_messages": len(ordinary)}
    for name, detector in (("classifier", classifier), ("safety_net", rules), ("combined", combined)):
        figures[name] = {
            "recall": round(sum(map(detector, crisis)) / max(len(crisis), 1), 4),
            "false_alarm_rate": round(sum(map(detector, ordinary)) / max(len(ordinary), 1), 4),
        }
    figures["missed"] = [p["text"] for p in crisis if not combined(p)]
    figures["false_alarms"] = [p["text"] for p in ordinary if combined(p)]
    return figures


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


def write_report(results: Dict[str, Any]) -> None:
    """Writes bench/results.json and the figures into bench/README.md."""
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    nlu, crisis, lat = results["nlu"], results["crisis"], results["latency"]
    rows = "\n".join(
        f"| {name} | {v['accuracy']:.3f} | {v['macro_f1']:.3f} | {v.get('training_seconds', '–')} |"
        for name, v in nlu.items()
    )
    crisis_rows = "\n".join(
        f"| {name} | {crisis[name]['recall']:.3f} | {crisis[name]['false_alarm_rate']:.3f} |"
        for name in ("classifier", "safety_net", "combined")
    )
    report = (BENCH_DIR / "README.template.md").read_text().format(
        date=results["date"],
        holdout=results["holdout_messages"],
        nlu_rows=rows,
        crisis_messages=crisis["crisis_messages"],
        ordinary_messages=crisis["ordinary_messages"],
        crisis_rows=crisis_rows,
        missed="\n".join(f"- {t}" for t in crisis["missed"]) or "- (none)",
        false_alarms="\n".join(f"- {t}" for t in crisis["false_alarms"]) or "- (none)",
        training_seconds=nlu["this pipeline"]["training_seconds"],
        typical_conversations=TYPICAL_CONVERSATIONS, typical_length=len(TYPICAL_ENQUIRY),
        typical_messages=lat["typical"]["messages"], typical_p50=lat["typical"]["p50_ms"],
        typical_p95=lat["typical"]["p95_ms"],
        long_messages=lat["long"]["messages"], long_p50=lat["long"]["p50_ms"], long_p95=lat["long"]["p95_ms"],
    )
    (BENCH_DIR / "README.md").write_text(report)


def quick(model: Path) -> int:
    """Scores an already trained model on the held-out set and lists its mistakes."""
    holdout = load_examples(HOLDOUT)
    probes = [line.strip() for line in PROBES.read_text().splitlines() if line.strip()]
    parses = asyncio.run(parse_all(model, [e.text for e in holdout] + probes))
    holdout_parses = parses[: len(holdout)]
    predictions = [full_intent(p) for p in holdout_parses]
    for example, predicted in zip(holdout, predictions):
        if example.label != predicted:
            print(f"{example.label:>30} -> {predicted:<30} {example.text}")
    crisis = crisis_figures(holdout, holdout_parses, parses[len(holdout):])
    print("missed crises:", crisis["missed"])
    print("false alarms:", crisis["false_alarms"])
    print(json.dumps(scores([e.label for e in holdout], predictions)))
    print(json.dumps({k: v for k, v in crisis.items() if k not in ("missed", "false_alarms")}))
    return 0


def main() -> int:
    """Runs every measurement in one go and writes the report (`--quick MODEL`: score only)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if len(sys.argv) == 3 and sys.argv[1] == "--quick":
        return quick(Path(sys.argv[2]))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    holdout = load_examples(HOLDOUT)
    probes = [line.strip() for line in PROBES.read_text().splitlines() if line.strip()]
    labels = [e.label for e in holdout]
    results: Dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "holdout_messages": len(holdout), "nlu": {}}
    with tempfile.TemporaryDirectory() as scratch:
        logger.info("training this project's pipeline")
        ours, ours_seconds = train(PROJECT_ROOT / "config.yml", Path(scratch) / "ours")
        parses = asyncio.run(parse_all(ours, [e.text for e in holdout] + probes))
        holdout_parses, probe_parses = parses[: len(holdout)], parses[len(holdout):]
        results["nlu"]["this pipeline"] = {
            **scores(labels, [full_intent(p) for p in holdout_parses]),
            "training_seconds": round(ours_seconds),
        }
        results["crisis"] = crisis_figures(holdout, holdout_parses, probe_parses)
        logger.info("training Rasa's default pipeline")
        default, default_seconds = train(DEFAULT_CONFIG, Path(scratch) / "default", nlu_only=True)
        default_parses = asyncio.run(parse_all(default, [e.text for e in holdout]))
        results["nlu"]["Rasa default pipeline"] = {
            **scores(labels, [full_intent(p) for p in default_parses]),
            "training_seconds": round(default_seconds),
        }
        logger.info("nearest-neighbour baseline")
        training_examples = [e for e in load_examples(PROJECT_ROOT / "data" / "nlu") if e.label != "choose_topic"]
        results["nlu"]["MiniLM 5-nearest-neighbours"] = scores(labels, nearest_neighbour(training_examples, holdout))
        logger.info("latency over REST")
        results["latency"] = latency()
    write_report(results)
    print(json.dumps({k: v for k, v in results.items() if k != "crisis"}, indent=2))
    print(json.dumps({k: v for k, v in results["crisis"].items() if k not in ("missed", "false_alarms")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
