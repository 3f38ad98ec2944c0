"""The all-mpnet-base-v2 encoder that `make setup` builds: real embeddings, real similarity."""

from pathlib import Path

import numpy as np
import pytest

from assistant.build_models import MPNET_DIR
from assistant.mpnet_encoder import BATCH_SIZE, SentenceEncoder, joined_embeddings, shared_encoder


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


def test_one_text_alone_is_embedded_as_in_a_batch_and_the_copy_is_the_callers(encoder: SentenceEncoder) -> None:
    batch = encoder.encode(["is ketamine safe?", "what are your fees"])
    first = encoder.encode_one("what are your fees")
    first[:] = 0.0
    assert np.allclose(encoder.encode_one("what are your fees"), batch[1], atol=1e-4)


def test_the_components_share_one_loaded_encoder_per_folder() -> None:
    assert shared_encoder(MPNET_DIR) is shared_encoder(MPNET_DIR)


def test_joined_embeddings_keep_unit_length() -> None:
    first, second = np.eye(4)[:2], np.eye(6)[2:4]
    joined = joined_embeddings(first, second)
    assert joined.shape == (2, 10) and np.allclose(np.linalg.norm(joined, axis=1), 1.0)


def test_a_missing_model_folder_says_to_run_setup(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make setup"):
        SentenceEncoder(tmp_path / "nothing")
