"""The text tokenizer: byte-level BPE trained with `tokenizers`, saved as `tokenizer.json`.

Control tokens have fixed ids 0..9 (the order of SPECIAL_TOKENS) in every trained tokenizer,
and they are only ever inserted by id: text that happens to contain "<sep>" is encoded as
ordinary bytes, so a prompt can never forge a control token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from tfgen.atomic import write_text_atomic
from tfgen.errors import TfgenError

BOS, EOS, PAD, BOI, EOI, SEP = "<bos>", "<eos>", "<pad>", "<boi>", "<eoi>", "<sep>"
KIND_TOKENS = {"comic": "<comic>", "magazine": "<magazine>", "deck": "<deck>", "none": "<none>"}
SPECIAL_TOKENS = (BOS, EOS, PAD, BOI, EOI, SEP, *KIND_TOKENS.values())
BYTE_ALPHABET_SIZE = 256


class TokenizerError(TfgenError):
    """A tokenizer file that cannot be used."""


class TextTokenizer:
    """Byte-level BPE with tfgen's control tokens; `encode(decode(x))` round-trips any text."""

    def __init__(self, tokenizer: Tokenizer, where: str = "tokenizer.json"):
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            actual = tokenizer.token_to_id(token)
            if actual != expected_id:
                raise TokenizerError(f"control token {token} has id {actual}, expected {expected_id}", where=where)
        # Text is never allowed to produce control tokens (see the module docstring).
        tokenizer.encode_special_tokens = True
        self._tok = tokenizer
        self.bos_id, self.eos_id, self.pad_id, self.boi_id, self.eoi_id, self.sep_id = range(6)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def kind_id(self, kind: str) -> int:
        """The id of the document-kind tag (`comic`, `magazine`, `deck`, `none`)."""
        if kind not in KIND_TOKENS:
            raise TfgenError(f"unknown document kind {kind!r} (one of {', '.join(KIND_TOKENS)})", where="kind")
        return SPECIAL_TOKENS.index(KIND_TOKENS[kind])

    def encode(self, text: str) -> list[int]:
        """Token ids of plain text (no control tokens added)."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` for many texts at once (runs in the library's own threads)."""
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        """Text of `ids`; control tokens are dropped unless `skip_special` is False."""
        return self._tok.decode(list(ids), skip_special_tokens=skip_special)

    def to_json(self) -> str:
        return self._tok.to_str()

    def save(self, path: str | os.PathLike) -> None:
        """Write `tokenizer.json` atomically."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def from_json(cls, text: str, where: str = "tokenizer.json") -> "TextTokenizer":
        try:
            json.loads(text)
            tok = Tokenizer.from_str(text)
        except Exception as exc:  # json and tokenizers raise many types for a bad file
            raise TokenizerError(f"not a valid tokenizer file ({_first_line(exc)})", where=where) from None
        return cls(tok, where=where)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TextTokenizer":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TokenizerError("file not found", where=str(path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenizerError(f"cannot read ({exc})", where=str(path)) from None
        return cls.from_json(text, where=str(path))


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> TextTokenizer:
    """Train byte-level BPE on `texts`; the vocabulary holds all 256 bytes, so nothing is out of vocabulary."""
    smallest = len(SPECIAL_TOKENS) + BYTE_ALPHABET_SIZE
    if vocab_size < smallest:
        raise TfgenError(f"vocab_size {vocab_size} is too small (at least {smallest})", where="vocab_size")
    tok = Tokenizer(models.BPE())
    # add_prefix_space=False keeps decode(encode(text)) == text exactly.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tok)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
