"""Names the NLU pipeline writes into a message's parse data, shared by everyone who reads them.

The pipeline's components (assistant/), the action server (actions/), the review
app and the benchmark all read these keys; they are defined here once, in a
module that imports nothing, so the action server needs no part of Rasa to use them.
"""

CRISIS_INTENT = "crisis"
UNKNOWN_INTENT = "out_of_scope"
# The safety net turned the message into `crisis`: why (a phrase, or the classifier).
SAFETY_NET_KEY = "safety_net"
# Suicide or self-harm mentioned without danger now: the answer ends with a gentle line.
SENSITIVE_MENTION_KEY = "sensitive_mention"
# The classifier said `crisis` but the only danger words were an everyday idiom.
IDIOM_KEY = "everyday_idiom"
# The unknown-question gate turned an FAQ prediction into `out_of_scope`: its evidence.
UNKNOWN_QUESTION_KEY = "unknown_question"
# The gate let an FAQ answer through: the same measurements, to see how near it came.
TOPIC_MATCH_KEY = "topic_match"
# The question classifier found DIET's `crisis` reading unlikely and replaced it: both figures.
CRISIS_SECOND_OPINION_KEY = "crisis_second_opinion"
