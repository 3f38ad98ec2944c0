"""The all-mpnet-base-v2 sentence encoder, for the question classifier and the unknown-question gate.

MiniLM (the pipeline's featurizer, six small layers) is fast but coarse; all-mpnet-base-v2
(twelve layers, 768 dimensions, the model MiniLM was distilled from) places real
visitors' questions closer to the training lines that ask the same thing. Measured on
the question classifier alone (bench/README.md), adding it to MiniLM picked the right
topic for more real questions (cross-validated by site over 2,772 gathered lines: 0.860
-> 0.884) and answered fewer unknown questions with a topic (17.5% -> 14.7%). It costs
about 30 ms a message on this machine, so only the question classifier and the
unknown-question gate use it, sharing one loaded model (`shared_encoder`) and the
embedding of the message in hand (`encode_one`), so a question is encoded once; DIET
keeps MiniLM.

The model is read from `build/mpnet` (assembled and hash-checked by
`assistant.build_models`), run as one traced TensorFlow graph (as
`assistant/sentence_encoder.py` does for MiniLM) and mean-pooled over the tokens, the
pooling it was trained with.
"""

from functools import cache, lru_cache
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

BATCH_SIZE = 32
MAX_TOKENS = 128
ANY_BATCH_OF_SEQUENCES = [None, None]
# the last few messages' embeddings: the classifier and the gate ask for the same one in turn
RECENT_MESSAGES = 16


class SentenceEncoder:
    """Unit-length sentence embeddings from a local sentence-transformers model folder."""

    def __init__(self, folder: Path) -> None:
        """Loads the tokenizer and the model; fails clearly when `make setup` has not built them."""
        from transformers import AutoTokenizer, TFAutoModel

        if not (Path(folder) / "config.json").exists():
            raise FileNotFoundError(f"No sentence encoder in {folder}: run `make setup`")
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = TFAutoModel.from_pretrained(str(folder))

        @tf.function(
            input_signature=[
                tf.TensorSpec(ANY_BATCH_OF_SEQUENCES, tf.int32, name="token_ids"),
                tf.TensorSpec(ANY_BATCH_OF_SEQUENCES, tf.int32, name="attention_mask"),
            ]
        )
        def token_states(token_ids: tf.Tensor, attention_mask: tf.Tensor) -> tf.Tensor:
            return model(input_ids=token_ids, attention_mask=attention_mask, training=False).last_hidden_state

        self._token_states = token_states
        self._encode_recent = lru_cache(maxsize=RECENT_MESSAGES)(self._encode_text)
        self._encode_last_batch = lru_cache(maxsize=1)(self._encode_batch)

    def encode_one(self, text: str) -> np.ndarray:
        """One text's embedding; asked again for a recent text, it is not computed again."""
        return self._encode_recent(text).copy()

    def _encode_text(self, text: str) -> np.ndarray:
        return self._encode_batch((text,))[0]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One mean-pooled, unit-length embedding per text, in order.

        The same texts asked for twice in a row (both components, training on the
        same lines) are encoded once.
        """
        return self._encode_last_batch(tuple(texts)).copy()

    def _encode_batch(self, texts: Tuple[str, ...]) -> np.ndarray:
        batches: List[np.ndarray] = []
        for start in range(0, len(texts), BATCH_SIZE):
            batch = self._tokenizer(
                [text or " " for text in texts[start:start + BATCH_SIZE]],
                padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np",
            )
            mask = batch["attention_mask"].astype(np.int32)
            states = self._token_states(tf.constant(batch["input_ids"], tf.int32), tf.constant(mask)).numpy()
            weights = mask[..., None].astype(np.float32)
            pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            batches.append(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9, None))
        return np.vstack(batches) if batches else np.zeros((0, 0), dtype=np.float32)


@cache
def shared_encoder(folder: Path) -> SentenceEncoder:
    """The one loaded encoder of a model folder: the components that use it share its memory."""
    return SentenceEncoder(Path(folder))


def joined_embeddings(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two unit-length embeddings of the same texts side by side, scaled to unit length again."""
    return np.hstack([first, second]) / np.sqrt(2.0)


class JoinedEmbeddings:
    """The pipeline's sentence embeddings, with a second encoder's beside them when one is configured.

    The question classifier and the unknown-question gate read messages the same way,
    so that the gate's similarities are measured on what the classifier saw.
    """

    def __init__(self, folder: str | Path | None) -> None:
        """No folder: the pipeline's embeddings alone."""
        self._encoder = shared_encoder(Path(folder)) if folder else None

    def of_lines(self, texts: Sequence[str], sentences: np.ndarray) -> np.ndarray:
        """Every training line's embedding, in order."""
        if self._encoder is None:
            return sentences
        return joined_embeddings(sentences, self._encoder.encode(list(texts)))

    def of_message(self, text: str, sentence: np.ndarray) -> np.ndarray:
        """One message's embedding (the second encoder's is computed once for both components)."""
        if self._encoder is None:
            return sentence
        return joined_embeddings(sentence, self._encoder.encode_one(text))
