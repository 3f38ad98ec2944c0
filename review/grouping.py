"""Groups unanswered messages that say much the same thing.

The therapist improves the assistant fastest by teaching it the questions that
come up again and again, so similar messages are shown together, largest group
first. Character n-grams (TF-IDF) are used rather than words because visitors'
messages are short and misspelt; groups are formed by average-linkage clustering
on cosine distance, cut at a similarity threshold.
"""

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

SIMILARITY_THRESHOLD = 0.35


@dataclass(frozen=True)
class MessageGroup:
    """Indexes of similar messages; `representative` is the most typical of them."""

    members: List[int]
    representative: int


def group_similar(texts: Sequence[str], threshold: float = SIMILARITY_THRESHOLD) -> List[MessageGroup]:
    """Groups texts whose average cosine similarity is at least `threshold`.

    Args:
        texts: The messages, in the order the caller will index them.
        threshold: 0 groups everything together, 1 only identical messages.

    Returns:
        Groups, largest first (ties: the group of the earliest text first); every
        text is in exactly one group.
    """
    if not texts:
        return []
    if len(texts) == 1:
        return [MessageGroup([0], 0)]
    normalised = [" ".join(text.lower().split()) or "(empty)" for text in texts]
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit_transform(normalised)
    similarity = np.clip(cosine_similarity(vectors), 0.0, 1.0)
    labels = AgglomerativeClustering(
        n_clusters=None,
        affinity="precomputed",
        linkage="average",
        distance_threshold=1.0 - threshold,
    ).fit_predict(1.0 - similarity)
    groups = []
    for label in dict.fromkeys(labels):
        members = [index for index, value in enumerate(labels) if value == label]
        inner = similarity[np.ix_(members, members)].sum(axis=1)
        groups.append(MessageGroup(members, members[int(np.argmax(inner))]))
    return sorted(groups, key=lambda group: (-len(group.members), group.members[0]))
