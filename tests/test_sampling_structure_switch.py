"""Structure forcing as a switch (GenerationOptions.structure) and the sampler's forced-token count."""

from __future__ import annotations

import pytest
import torch

from conftest_model import FixedHead, build_tiny_checkpoint
from tfgen.document import Document
from tfgen.eval.documents import DocumentRequest, run_documents
from tfgen.eval.sampling_adapter import SamplingGenerator
from tfgen.sampling import structure
from tfgen.sampling.generate import generate_document
from tfgen.sampling.loader import load_model
from tfgen.sampling.options import GenerationOptions, OptionsError
from tfgen.structure import check_kind

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return build_tiny_checkpoint(tmp_path_factory.mktemp("switch") / "ddpm")


@pytest.fixture
def loaded(ckpt):
    return load_model(str(ckpt))  # fresh per test: some tests swap the LM head


def opts(**kw) -> GenerationOptions:
    base = dict(kind="comic", count=2, seed=3, sampler="ddim", steps=2, guidance=3.0)
    return GenerationOptions(**{**base, **kw})


def n_tokens(loaded, text: str) -> int:
    return len(loaded.tokenizer.encode(text))


def test_structure_must_be_a_bool():
    for bad in ("no", 1, None):
        with pytest.raises(OptionsError) as err:
            GenerationOptions(structure=bad)
        assert err.value.where == "--structure"
    assert GenerationOptions().structure is True


@pytest.mark.parametrize("kind", ["comic", "deck", "magazine"])
def test_forcing_off_forces_nothing_and_still_gives_a_valid_document(loaded, kind):
    result = generate_document(loaded, "a fox finds a lantern", opts(kind=kind, count=3, structure=False,
                                                                     temperature=1.0, max_tokens=60))
    assert result.forced_tokens == 0
    doc = result.document
    assert doc.kind == kind and doc.meta["structure"] is False
    again = Document.from_json(doc.to_json())  # a valid tfgen.document/1
    assert again.text == doc.text and len(again.images) == len(doc.images)
    assert result.stopped_by in ("eos", "max_tokens", "context")
    assert len(result.token_ids) <= 60


def test_forcing_off_lets_a_stubborn_model_write_only_its_favourite(loaded):
    tok = loaded.tokenizer
    fox = tok.encode("fox")[0]
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [fox])
    free = generate_document(loaded, "a fox", opts(kind="comic", count=3, structure=False, temperature=0,
                                                   max_tokens=20))
    assert free.forced_tokens == 0 and free.stopped_by == "max_tokens"
    assert free.token_ids == [fox] * 20  # no heading, no title, no stop at the panel count
    assert free.document.images == [] and "#" not in free.document.text
    assert check_kind(free.document, "comic", 3) != []
    forced = generate_document(loaded, "a fox", opts(kind="comic", count=3, temperature=0))
    assert forced.forced_tokens > 0 and check_kind(forced.document, "comic", 3) == []


def test_forced_tokens_count_markup_and_forced_images_exactly(loaded):
    tok = loaded.tokenizer
    # EOS first: every body ends at once, so each panel's image is forced; lines (EOS banned) write "fox".
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [tok.eos_id, tok.encode("fox")[0]])
    count = 3
    result = generate_document(loaded, "a fox", opts(kind="comic", count=count, temperature=0))
    assert check_kind(result.document, "comic", count) == []
    per_panel = n_tokens(loaded, "\n\n##") + n_tokens(loaded, "\n\n") + 2  # + forced BOI and EOI
    assert result.forced_tokens == n_tokens(loaded, "#") + count * per_panel


def test_images_the_model_asks_for_are_not_counted(loaded):
    tok = loaded.tokenizer
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [tok.boi_id, tok.encode("fox")[0]])
    count = 2
    result = generate_document(loaded, "a fox", opts(kind="comic", count=count, temperature=0))
    assert len(result.document.images) == count and check_kind(result.document, "comic", count) == []
    per_panel = n_tokens(loaded, "\n\n##") + n_tokens(loaded, "\n\n")  # the model's own BOI: nothing forced
    assert result.forced_tokens == n_tokens(loaded, "#") + count * per_panel


def test_fallback_text_is_counted_as_forced(loaded):
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [loaded.tokenizer.eos_id])
    # Forcing off and an instant EOS: the empty document gets the prompt's stand-in title (a valid document).
    result = generate_document(loaded, "a fox in the snow", opts(kind="deck", structure=False, temperature=0))
    assert result.stopped_by == "eos" and result.token_ids == []
    assert result.document.text == structure.fallback_title("a fox in the snow")
    assert result.forced_tokens == n_tokens(loaded, result.document.text) > 0


def test_forcing_off_is_reproducible(loaded):
    a = generate_document(loaded, "a fox", opts(structure=False, temperature=1.0, max_tokens=30, seed=5))
    b = generate_document(loaded, "a fox", opts(structure=False, temperature=1.0, max_tokens=30, seed=5))
    assert a.token_ids == b.token_ids and a.document.to_json() == b.document.to_json()


def test_documents_suite_reports_both_figures(ckpt):
    gen = SamplingGenerator.from_dir(str(ckpt))
    requests = [DocumentRequest("a fox finds a lantern", "comic", 2),
                DocumentRequest("a kite over the hill", "deck", 2),
                DocumentRequest("the owl and the moon", "magazine", 2)]
    res = run_documents(gen, requests, seed=1)
    assert res.note == ""  # forcing off was measured, not skipped
    assert set(res.pass_rate) == {"comic", "deck", "magazine"} and res.overall is not None
    assert all(0.0 <= v <= 1.0 for v in res.pass_rate.values())
    assert res.pass_rate_forced == {"comic": 1.0, "deck": 1.0, "magazine": 1.0}
    assert all(v > 0 for v in res.forced_tokens.values())
    free = gen.document("a fox finds a lantern", "comic", 2, 1, False)
    assert free.forced_tokens == 0


def test_titles_and_headings_start_with_a_space_led_word(loaded):
    """Markup is forced without its trailing space; the model's first word brings the space (BPE's ' All')."""
    tok = loaded.tokenizer
    space = tok.encode(" ")[0]
    bare = tok.encode("fox")[0]  # no leading space
    word = tok.encode(" fox")[-1]
    assert tok.decode([word]).startswith(" ") and not tok.decode([bare]).startswith(" ")
    # The head prefers the lone space, then a bare word, then " fox": only " fox" may start a line.
    loaded.model.lm_head = FixedHead(loaded.cfg.vocab_size, [space, bare, word])
    result = generate_document(loaded, "a fox", opts(kind="comic", count=2, temperature=0))
    lines = [ln for ln in result.document.text.split("\n") if ln.startswith("#")]
    assert len(lines) == 3 and all(ln.split(" ", 1)[1].startswith("fox") for ln in lines), lines
    first_after_hash = result.token_ids[result.token_ids.index(tok.encode("#")[0]) + 1]
    assert first_after_hash == word
