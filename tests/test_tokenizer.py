"""The byte-level BPE tokenizer: round trips, fixed control-token ids, no forged control tokens."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfgen.errors import TfgenError
from tfgen.model.tokenizer import SPECIAL_TOKENS, TextTokenizer, TokenizerError, train_tokenizer

CORPUS = [
    "# The fox and the lantern",
    "## Panel 1\nFOX: What is that light?\n> A lantern glows in the forest.",
    "- bullet one\n- bullet two",
    "The owl looks at the moon. The fox finds a lantern in the forest.",
] * 10


@pytest.fixture(scope="module")
def tok() -> TextTokenizer:
    return train_tokenizer(CORPUS, vocab_size=400)


def test_control_tokens_have_fixed_ids(tok):
    assert [tok.bos_id, tok.eos_id, tok.pad_id, tok.boi_id, tok.eoi_id, tok.sep_id] == [0, 1, 2, 3, 4, 5]
    assert [tok.kind_id(k) for k in ("comic", "magazine", "deck", "none")] == [6, 7, 8, 9]
    assert tok.decode(range(len(SPECIAL_TOKENS)), skip_special=False) == "".join(SPECIAL_TOKENS)


def test_bpe_learns_merges_from_the_corpus(tok):
    text = "The fox finds a lantern in the forest."
    assert len(tok.encode(text)) < len(text.encode("utf-8")) / 2


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_round_trip_of_any_text(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_text_cannot_forge_control_tokens(tok):
    ids = tok.encode("a <sep> b <bos><eoi>")
    assert not set(ids) & set(range(len(SPECIAL_TOKENS)))
    assert tok.decode(ids) == "a <sep> b <bos><eoi>"


def test_save_and_load(tok, tmp_path):
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    back = TextTokenizer.load(path)
    assert back.vocab_size == tok.vocab_size
    assert back.encode("The fox <sep> glows") == tok.encode("The fox <sep> glows")


def test_bad_files_are_named(tok, tmp_path):
    with pytest.raises(TokenizerError, match="file not found"):
        TextTokenizer.load(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text(tok.to_json()[:100])
    with pytest.raises(TokenizerError, match="not a valid tokenizer") as info:
        TextTokenizer.load(broken)
    assert info.value.where == str(broken)
    # A tokenizer whose control tokens sit at other ids would silently corrupt training.
    data = json.loads(tok.to_json())
    for entry in data["added_tokens"]:
        if entry["content"] == "<bos>":
            entry["content"] = "<xyz>"
    data["model"]["vocab"]["<xyz>"] = data["model"]["vocab"].pop("<bos>")
    swapped = tmp_path / "swapped.json"
    swapped.write_text(json.dumps(data))
    with pytest.raises(TokenizerError, match="control token <bos>"):
        TextTokenizer.load(swapped)


def test_unknown_kind_and_tiny_vocab_are_errors(tok):
    with pytest.raises(TfgenError, match="unknown document kind"):
        tok.kind_id("poster")
    with pytest.raises(TfgenError, match="too small"):
        train_tokenizer(CORPUS, vocab_size=100)
