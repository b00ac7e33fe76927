"""The text suite: perplexity of held-out documents (their text, images left out) under the model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tfgen.document import Document

HELDOUT_DOC_SEED = 90_210  # a dataset seed no training run uses by default (training seeds are small)


@dataclass
class TextResult:
    perplexity: float
    nll_per_token: float
    tokens: int
    documents: int


def heldout_documents(n: int, seed: int = HELDOUT_DOC_SEED) -> list[Document]:
    """n storyworld documents of a seed kept out of training, all kinds mixed."""
    from tfgen.world.documents import iter_documents

    return list(iter_documents(seed, stop=n))


def perplexity(total_nll: float, tokens: int) -> float:
    """exp(mean negative log-likelihood per token), in nats."""
    if tokens <= 0:
        raise ValueError("perplexity of no tokens")
    return math.exp(total_nll / tokens)


def run_text(generator: Any, n_documents: int, seed: int = HELDOUT_DOC_SEED) -> TextResult | None:
    """None when the generator is not a language model (the storyworld)."""
    docs = heldout_documents(n_documents, seed)
    got = generator.text_nll(docs)
    if got is None:
        return None
    nll, tokens = got
    return TextResult(perplexity(nll, tokens), nll / tokens, tokens, len(docs))
