"""The all-mpnet-base-v2 encoder that `make setup` builds: real embeddings, real similarity."""

from pathlib import Path

import numpy as np
import pytest

from assistant.build_models import MPNET_DIR
from assistant.mpnet_encoder import BATCH_SIZE, SentenceEncoder


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    """The encoder `config.yml` names, loaded once."""
    return SentenceEncoder(MPNET_DIR)


def test_a_paraphrase_is_closer_than_another_question(encoder: SentenceEncoder) -> None:
    fees, paraphrase, parking = encoder.encode(["what are your fees", "how much would I pay", "is there parking"])
    assert fees @ paraphrase > fees @ parking + 0.2


def test_every_embedding_has_unit_length_even_for_an_empty_text(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode(["", "is ketamine safe?", "word " * 500])
    assert vectors.shape == (3, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batches_give_the_same_embedding_as_one_text_alone(encoder: SentenceEncoder) -> None:
    texts = [f"question number {n} about the free call" for n in range(BATCH_SIZE + 3)]
    together = encoder.encode(texts)
    alone = encoder.encode([texts[-1]])[0]
    assert np.allclose(together[-1], alone, atol=1e-4)


def test_a_missing_model_folder_says_to_run_setup(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make setup"):
        SentenceEncoder(tmp_path / "nothing")
