"""The fixed numbers and names of the explanation protocol (docs/EXPLANATIONS.md). Changing any of them changes
``PROTOCOL_VERSION``: explanations and scores record the version they were made under."""

from __future__ import annotations

from ..support.text_enum import TextEnum

PROTOCOL_VERSION = "desktop-sae-explain/3"

WINDOW = 32  # tokens per context window the model reads
SHOWN = 12  # tokens of a window shown to the explainer or a scorer: an excerpt around one position
SHOWN_BEFORE = 8  # of which this many come before that position (``contexts.excerpt_start``)
SCORE_SHARE = 5  # one context window in SCORE_SHARE is held out for scoring (``contexts.is_scoring_window``)
N_EXPLAIN_TOP = 5  # strongest explaining contexts shown to the explainer
N_EXPLAIN_QUANTILE = 10  # further explaining contexts, drawn evenly across activation quantiles
FIRE_FRACTION = 0.2  # a token fires when its value >= this x the feature's max; a context counts when it fires
N_SCORE_ACTIVATING = 5  # held-out activating contexts per feature, drawn across N_QUANTILE_BINS quantile bins
N_SCORE_NON_ACTIVATING = 5  # held-out contexts where the feature is zero everywhere
N_QUANTILE_BINS = 5
N_LOGITS = 6  # promoted and suppressed output tokens shown
HIGHLIGHT_THRESHOLD = 0.3  # delphi: a token is activating when its value >= 0.3 x the context's maximum
EXAMPLES_PER_CALL = 5  # contexts per scorer prompt
MAX_WORDS = 12  # the explanation's length the explainer is asked for
MAX_WORDS_ACCEPTED = 20  # longer answers are malformed
NO_PATTERN = "no clear pattern"
LEFT, RIGHT = "<<", ">>"  # token markers (delphi's)


class Scorer(TextEnum):
    DETECTION = "detection"
    FUZZING = "fuzzing"


class Variant(TextEnum):
    """Which explanation a score was given to: the feature's own, another random feature's (a scorer sanity
    baseline, must score near 0.5) or the dictionary's token-fragment label (the baseline to beat)."""

    OWN = "own"
    RANDOM_OTHER = "random_other"
    TOKEN_LABEL = "token_label"


class Method(TextEnum):
    """How an explanation was written."""

    LLM = "llm"  # an LLM explainer over an OpenAI-compatible endpoint
    HUMAN = "human"  # written by a person following the protocol, from the offline prompts file
    AGENT = "agent"  # written by an LLM agent reading the offline prompts file (its model named as the explainer)
    NEURONPEDIA = "neuronpedia"  # imported from a Neuronpedia export
