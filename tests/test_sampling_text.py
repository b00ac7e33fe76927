"""Next-token choice (greedy, temperature, top-k, top-p, banned ids), options and prompt vocabulary checks."""

from __future__ import annotations

import pytest
import torch

from tfgen.errors import TfgenError
from tfgen.model.tokenizer import train_tokenizer
from tfgen.sampling.options import GenerationOptions
from tfgen.sampling.text import banned_mask, choose_token
from tfgen.sampling.vocabulary import prompt_words, unknown_words

LOGITS = torch.tensor([0.0, 3.0, 2.9, -1.0, 1.0])


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_greedy_is_argmax_and_respects_bans():
    assert choose_token(LOGITS, 0.0, 0, 1.0, gen()) == 1
    assert choose_token(LOGITS, 0.0, 0, 1.0, gen(), banned_mask(5, [1])) == 2


def test_top_k_one_and_tiny_top_p_are_greedy():
    for seed in range(20):
        assert choose_token(LOGITS, 5.0, 1, 1.0, gen(seed)) == 1
        assert choose_token(LOGITS, 5.0, 0, 1e-6, gen(seed)) == 1


def test_top_k_two_keeps_only_the_two_likeliest():
    picks = {choose_token(LOGITS, 10.0, 2, 1.0, gen(seed)) for seed in range(60)}
    assert picks == {1, 2}


def test_top_p_keeps_the_nucleus():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    picks = {choose_token(logits, 1.0, 0, 0.7, gen(seed)) for seed in range(200)}
    assert picks == {0, 1}  # 0.5 alone is below 0.7; 0.5 + 0.3 reaches it


def test_sampling_follows_the_generator():
    a = [choose_token(LOGITS, 1.0, 0, 1.0, gen(7)) for _ in range(5)]
    g1, g2 = gen(7), gen(7)
    seq1 = [choose_token(LOGITS, 1.0, 0, 1.0, g1) for _ in range(30)]
    seq2 = [choose_token(LOGITS, 1.0, 0, 1.0, g2) for _ in range(30)]
    assert seq1 == seq2 and len(set(seq1)) > 1 and len(set(a)) == 1
    banned = banned_mask(5, [1, 2])
    assert all(choose_token(LOGITS, 2.0, 0, 1.0, gen(s), banned) not in (1, 2) for s in range(50))


@pytest.mark.parametrize("changes,where", [
    ({"kind": "poster"}, "--kind"), ({"sampler": "euler-a"}, "--sampler"), ({"steps": 0}, "--steps"),
    ({"temperature": -1.0}, "--temperature"), ({"top_p": 0.0}, "--top-p"), ({"count": 0}, "--count"),
    ({"seed": -2}, "--seed"), ({"guidance": -1.0}, "--cfg"),
])
def test_bad_options_name_the_option(changes, where):
    with pytest.raises(TfgenError) as err:
        GenerationOptions(**changes)
    assert err.value.where == where


def test_unknown_prompt_words_are_reported():
    tok = train_tokenizer(["the fox finds a lantern in the forest"] * 10, vocab_size=300)
    config = {"vocabulary": {"things": ["fox", "lantern", "forest", "owl"]}}
    assert prompt_words("The Fox and the owl's fox") == ["fox", "owl"]
    assert unknown_words("a fox finds two zebras in the forest", config, tok) == ["zebras"]
    assert unknown_words("owls and foxes", config, tok) == []
    assert "zebra" in unknown_words("a zebra", {}, tok)


def test_training_vocabulary_feeds_the_unknown_word_check():
    from tfgen.sampling.vocabulary import known_things, training_vocabulary

    words = training_vocabulary(["A fox finds a Lantern.", "The fox's hat is red", "an owl"])
    assert words == ["finds", "fox", "hat", "lantern", "owl", "red", "the"]
    assert known_things({"vocabulary": {"words": words}}) == set(words)
