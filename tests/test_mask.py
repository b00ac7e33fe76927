"""Each rule of the Transfusion attention mask on its own (tfgen.model.mask)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tfgen.model.mask import build_attention_mask, position_flags  # noqa: E402

torch.set_num_threads(1)

# One row, two packed documents and padding:
#   doc 0: 0 text, 1 BOI, 2-3 image 0, 4 EOI, 5 text, 6 BOI, 7-8 image 1, 9 EOI, 10 text
#   doc 1: 11 text, 12 BOI, 13-14 image 2, 15 EOI;  16-17 padding
DOC = [0] * 11 + [1] * 5 + [-1] * 2
IMG = [-1, -1, 0, 0, -1, -1, -1, 1, 1, -1, -1, -1, -1, 2, 2, -1, -1, -1]
IMAGE0, IMAGE1, IMAGE2 = [2, 3], [7, 8], [13, 14]


def mask_for(cross_image: str = "blocked", drop: list[bool] | None = None) -> torch.Tensor:
    doc = torch.tensor([DOC])
    img = torch.tensor([IMG])
    dropped = torch.tensor([drop]) if drop is not None else None
    m = build_attention_mask(doc, img, dropped, cross_image)
    assert m.shape == (1, 1, 18, 18) and m.dtype == torch.bool
    return m[0, 0]


def test_text_is_causal():
    m = mask_for()
    for i in (0, 5, 10):
        for j in range(11):
            if IMG[j] < 0:  # text keys of the same document
                assert bool(m[i, j]) == (j <= i), (i, j)


def test_image_is_bidirectional_inside_itself():
    m = mask_for()
    for a in IMAGE1:
        for b in IMAGE1:
            assert m[a, b]
    assert m[7, 8] and not m[6, 7]  # the first patch sees the second; BOI (text) does not see ahead


def test_no_attention_across_packed_documents():
    m = mask_for(cross_image="allowed")
    doc1 = range(11, 16)
    for i in doc1:
        for j in range(11):
            assert not m[i, j], (i, j)
    for i in range(11):
        for j in doc1:
            assert not m[i, j], (i, j)


def test_cross_image_blocked_hides_earlier_images_patches_only():
    m = mask_for(cross_image="blocked")
    for a in IMAGE1:
        for b in IMAGE0:
            assert not m[a, b], (a, b)
        for j in (0, 1, 4, 5, 6):  # all earlier text, EOI of image 0 included, stays visible
            assert m[a, j], (a, j)


def test_cross_image_allowed_sees_earlier_images():
    m = mask_for(cross_image="allowed")
    for a in IMAGE1:
        for b in IMAGE0:
            assert m[a, b], (a, b)
    # still causal across images: an earlier image never sees a later one
    for a in IMAGE0:
        for b in IMAGE1:
            assert not m[a, b]


@pytest.mark.parametrize("mode", ["blocked", "allowed"])
def test_text_after_an_image_always_sees_it(mode):
    m = mask_for(cross_image=mode)
    for j in IMAGE0 + IMAGE1:
        assert m[10, j], (mode, j)
    for j in IMAGE0:
        assert m[5, j] and m[4, j]


def test_dropped_condition_image_sees_only_itself():
    m = mask_for(cross_image="allowed", drop=[False, True, False])
    for a in IMAGE1:
        visible = {j for j in range(18) if m[a, j]}
        assert visible == set(IMAGE1), visible
    # the other images keep their prefix
    assert m[13, 11] and m[13, 12]
    # text after the dropped image still sees it
    assert m[10, 7] and m[10, 8]


def test_padding_attends_only_to_itself_and_is_never_attended():
    m = mask_for()
    for i in (16, 17):
        assert {j for j in range(18) if m[i, j]} == {i}
    assert not m[:16, 16:].any()


def test_position_flags_spreads_image_flags():
    img = torch.tensor([IMG])
    flags = position_flags(img, torch.tensor([[False, True, False]]))
    assert flags[0].nonzero().flatten().tolist() == IMAGE1


def test_unknown_cross_image_mode_rejected():
    with pytest.raises(ValueError):
        build_attention_mask(torch.zeros(1, 2, dtype=torch.long), torch.full((1, 2), -1), None, "sometimes")


def causal_mask_for(cross_image: str = "blocked", drop: list[bool] | None = None) -> torch.Tensor:
    dropped = torch.tensor([drop]) if drop is not None else None
    return build_attention_mask(torch.tensor([DOC]), torch.tensor([IMG]), dropped, cross_image, "causal")[0, 0]


@pytest.mark.parametrize("mode", ["blocked", "allowed"])
def test_causal_image_attention_only_removes_looking_ahead_inside_an_image(mode):
    bidi, causal = mask_for(cross_image=mode), causal_mask_for(cross_image=mode)
    ahead = {(a, b) for image in (IMAGE0, IMAGE1, IMAGE2) for a in image for b in image if b > a}
    for i in range(18):
        for j in range(18):
            assert bool(causal[i, j]) == (bool(bidi[i, j]) and (i, j) not in ahead), (mode, i, j)
    assert causal[8, 7] and not causal[7, 8] and bidi[7, 8]


def test_causal_image_attention_with_dropped_condition_sees_only_earlier_patches_of_itself():
    m = causal_mask_for(cross_image="allowed", drop=[False, True, False])
    assert {j for j in range(18) if m[7, j]} == {7}
    assert {j for j in range(18) if m[8, j]} == {7, 8}


def test_unknown_image_attention_mode_rejected():
    from tfgen.model.config import ConfigError, ModelConfig

    with pytest.raises(ValueError):
        build_attention_mask(torch.zeros(1, 2, dtype=torch.long), torch.full((1, 2), -1), None, "blocked", "sideways")
    with pytest.raises(ConfigError) as err:
        ModelConfig(image_attention="sideways")
    assert err.value.where == "image_attention"
    assert ModelConfig().image_attention == "bidirectional"
