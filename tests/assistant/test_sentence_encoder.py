"""The compiled sentence encoder gives the features Rasa's own featurizer gives."""

from pathlib import Path
from typing import Any, Dict, List, Type

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.featurizers.dense_featurizer.lm_featurizer import LanguageModelFeaturizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from assistant.sentence_encoder import CompiledLanguageModelFeaturizer
from assistant.settings import PROJECT_ROOT

MESSAGES = [
    "is ketamine safe?",
    "hi",
    "My therapist said IFS might help with the anxious part of me, but I'm not sure what a part even is",
    "do u take insurance or sliding scale",
]


def create(component: Type, config: Dict[str, Any], tmp_path: Path) -> Any:
    """A component as Rasa's graph creates it, with its default settings under `config`."""
    return component.create(
        {**component.get_default_config(), **config},
        LocalModelStorage(tmp_path),
        Resource(component.__name__),
        ExecutionContext(GraphSchema({}), "test"),
    )


def featurized(featurizer: Any, tokenizer: WhitespaceTokenizer, texts: List[str]) -> List[Message]:
    """Messages tokenised and featurized by `featurizer`."""
    messages = tokenizer.process([Message(data={TEXT: text}) for text in texts])
    return featurizer.process(messages)


@pytest.fixture(scope="module")
def featurizers(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """Rasa's featurizer, the compiled one and a tokenizer, all on the MiniLM folder `make setup` links."""
    tmp_path = tmp_path_factory.mktemp("models")
    settings = {"model_name": "bert", "model_weights": str(PROJECT_ROOT / "build" / "minilm")}
    return {
        "rasa": create(LanguageModelFeaturizer, settings, tmp_path),
        "compiled": create(CompiledLanguageModelFeaturizer, settings, tmp_path),
        "tokenizer": create(WhitespaceTokenizer, {}, tmp_path),
    }


def test_the_compiled_encoder_gives_rasas_features_for_every_message_length(featurizers) -> None:
    expected = featurized(featurizers["rasa"], featurizers["tokenizer"], MESSAGES)
    actual = featurized(featurizers["compiled"], featurizers["tokenizer"], MESSAGES)
    for want, got in zip(expected, actual):
        want_sequence, want_sentence = want.get_dense_features(TEXT, [])
        got_sequence, got_sentence = got.get_dense_features(TEXT, [])
        assert got_sequence.features.shape == want_sequence.features.shape
        np.testing.assert_allclose(got_sequence.features, want_sequence.features, atol=1e-4)
        np.testing.assert_allclose(got_sentence.features, want_sentence.features, atol=1e-4)

def test_a_message_featurized_alone_gets_the_features_it_gets_in_a_batch(featurizers) -> None:
    in_batch = featurized(featurizers["compiled"], featurizers["tokenizer"], MESSAGES)
    for text, batched in zip(MESSAGES, in_batch):
        (alone,) = featurized(featurizers["compiled"], featurizers["tokenizer"], [text])
        np.testing.assert_allclose(
            alone.get_dense_features(TEXT, [])[1].features, batched.get_dense_features(TEXT, [])[1].features, atol=1e-4
        )
