"""The MiniLM sentence encoder, run as a compiled TensorFlow graph.

Rasa's `LanguageModelFeaturizer` calls the language model eagerly, op by op from
Python. On this 2-core machine that took about 60 ms a message, most of the time
a visitor waits for an answer. Tracing the same model once into a `tf.function`
whose batch and sequence dimensions are left open gives the same features (the
largest difference measured was 2e-6) in about 10 ms, for every message length,
without retracing. Everything else (tokenising, padding) is Rasa's.

The sentence features can also be the mean of the token states (`sentence_pooling:
mean`) instead of Rasa's first-token ([CLS]) state: all-MiniLM-L6-v2 was trained
as a sentence encoder with mean pooling, so the mean is its real sentence
embedding, the one that similarity between questions is measured on.
"""

from typing import Any, Dict, List, Tuple

import numpy as np
import tensorflow as tf
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.dense_featurizer.lm_featurizer import LanguageModelFeaturizer

ANY_BATCH_OF_SEQUENCES = [None, None]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class CompiledLanguageModelFeaturizer(LanguageModelFeaturizer):
    """`LanguageModelFeaturizer` whose model runs as one traced graph."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Rasa's options, and how the sentence features are pooled ("cls" as Rasa, or "mean")."""
        return {**LanguageModelFeaturizer.get_default_config(), "sentence_pooling": "cls"}

    def _post_process_sequence_embeddings(self, sequence_embeddings: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Rasa's post-processing, with the sentence features mean-pooled when configured."""
        sentences, sequences = super()._post_process_sequence_embeddings(sequence_embeddings)
        if self._config.get("sentence_pooling") == "mean":
            sentences = np.stack([np.asarray(states).mean(axis=0) for states in sequence_embeddings])
        return sentences, sequences

    def _load_model_instance(self) -> None:
        """Loads the model as Rasa does, then traces it once for any batch and length."""
        super()._load_model_instance()
        model = self.model

        @tf.function(
            input_signature=[
                tf.TensorSpec(ANY_BATCH_OF_SEQUENCES, tf.int32, name="token_ids"),
                tf.TensorSpec(ANY_BATCH_OF_SEQUENCES, tf.float32, name="attention_mask"),
            ]
        )
        def encode(token_ids: tf.Tensor, attention_mask: tf.Tensor) -> tf.Tensor:
            return model(token_ids, attention_mask=attention_mask, training=False)[0]

        self._encode = encode

    def _compute_batch_sequence_features(
        self, batch_attention_mask: np.ndarray, padded_token_ids: List[List[int]]
    ) -> np.ndarray:
        """The model's hidden states for a padded batch, as Rasa's featurizer returns them."""
        token_ids = tf.convert_to_tensor(padded_token_ids, dtype=tf.int32)
        attention_mask = tf.convert_to_tensor(batch_attention_mask, dtype=tf.float32)
        return self._encode(token_ids, attention_mask).numpy()
