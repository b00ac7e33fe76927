"""Which prompt words the model saw in training, so the CLI can warn about the ones it did not.

A word counts as known when either source knows it:
1. config.json's `vocabulary.words` (every word of 3+ letters in the training prompts and text,
   written by `tfgen train`; see `training_vocabulary`) or `vocabulary.things` / `training.things`
   (the things the training data draws); plurals in -s and -es count as their singular.
2. The tokenizer: a byte-level BPE merges only what it saw (at least twice) in its training
   text, so a word that encodes to one token (with or without its leading space) was common
   there. This keeps verbs and adjectives of the training text from being reported; a word
   neither source knows was rare or absent in training. A heuristic, documented as such.
Short words (< 3 letters) and a small list of function words are never reported.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from tfgen.model.tokenizer import TextTokenizer

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_COMMON = frozenset(
    "the and for with from into onto over under about after before while where when what who whom "
    "that this these those then than there their they them some any all one two three four five six "
    "seven eight nine ten many much more most very its his her our your are was were has have had "
    "not but out off him she you who how why can will would could should may might".split())


def known_things(config: Mapping[str, Any]) -> set[str] | None:
    """The lower-cased training vocabulary from config.json, if it records one."""
    for section, key in (("vocabulary", "words"), ("vocabulary", "things"), ("training", "things")):
        things = config.get(section, {}).get(key) if isinstance(config.get(section), dict) else None
        if isinstance(things, list) and all(isinstance(t, str) for t in things):
            return {t.lower() for t in things}
    return None


def training_vocabulary(texts: Iterable[str]) -> list[str]:
    """Every word of 3+ letters in the training text, lower-cased and sorted (for config.json)."""
    words: set[str] = set()
    for text in texts:
        words.update(w.removesuffix("'s").strip("'-") for w in _WORD.findall(text.lower()))
    return sorted(w for w in words if len(w) >= 3)


def prompt_words(prompt: str) -> list[str]:
    """Content words of the prompt, lower-cased, in order, without repeats."""
    seen: list[str] = []
    for word in _WORD.findall(prompt.lower()):
        word = word.removesuffix("'s").strip("'-")
        if len(word) >= 3 and word not in _COMMON and word not in seen:
            seen.append(word)
    return seen


def unknown_words(prompt: str, config: Mapping[str, Any], tokenizer: TextTokenizer) -> list[str]:
    """Prompt words the model most likely never saw in training (see the module docstring)."""
    things = known_things(config) or set()
    return [w for w in prompt_words(prompt)
            if not (_singulars(w) & things) and not _single_token(tokenizer, w)]


def _singulars(word: str) -> set[str]:
    """The word and its likely singulars ("foxes" -> "foxe", "fox"; "owls" -> "owl")."""
    return {word, word.removesuffix("s"), word.removesuffix("es")}


def _single_token(tokenizer: TextTokenizer, word: str) -> bool:
    return any(len(tokenizer.encode(form)) == 1 for form in _forms(word))


def _forms(word: str) -> Iterable[str]:
    yield " " + word
    yield word
    yield " " + word.capitalize()
