"""Scenes: annotations agree with the pixels (boxes, visibility, colours, relations)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tfgen.world.colours import COLOUR_NAMES, MIN_CONTRAST_DE, SWATCHES, nearest_colour_names, srgb_to_lab
from tfgen.world.recolour import fill_mask, main_fill, recolour
from tfgen.world.sampling import CATEGORY_WEIGHTS, SceneSampler
from tfgen.world.scene import MIN_VISIBLE, ObjectSpec, SceneSpec
from tfgen.world.sprites import BOX_ALPHA, Accessory

SIZE = 96


@pytest.fixture(scope="module")
def sampler():
    return SceneSampler()


def _scenes(sampler, n=60, seed=0):
    rng = random.Random(seed)
    cats = list(CATEGORY_WEIGHTS)
    return [sampler.scene(rng, SIZE, cats[i % len(cats)]) for i in range(n)]


def _alone_mask(sampler, scene, ann):
    return sampler.composer.render_alone(scene.spec, ann, SIZE)[..., 3] >= BOX_ALPHA


def test_each_box_is_the_extent_of_that_object_rendered_alone(sampler):
    for scene in _scenes(sampler):
        assert scene.image.shape == (SIZE, SIZE, 3) and scene.image.dtype == np.uint8
        for ann in scene.annotations:
            mask = _alone_mask(sampler, scene, ann)
            ys, xs = np.nonzero(mask)
            assert ann["box"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            assert 0 <= ann["box"][0] < ann["box"][2] <= SIZE and 0 <= ann["box"][1] < ann["box"][3] <= SIZE


def test_every_object_stays_at_least_70_percent_visible_and_counts_match(sampler):
    for scene in _scenes(sampler, seed=1):
        masks = [_alone_mask(sampler, scene, a) for a in scene.annotations]
        for i, ann in enumerate(scene.annotations):
            covered = np.zeros_like(masks[i])
            for later in masks[i + 1 :]:
                covered |= later
            visible = (masks[i] & ~covered).sum() / masks[i].sum()
            assert visible >= MIN_VISIBLE - 1e-9
            assert ann["count"] == sum(1 for a in scene.annotations if a["group"] == ann["group"])


def test_relations_hold_between_the_boxes(sampler):
    rng = random.Random(2)
    for _ in range(40):
        scene = sampler.scene(rng, SIZE, "position")
        i, rel, j = scene.spec.relation
        a = next(x["box"] for x in scene.annotations if x["group"] == i)
        b = next(x["box"] for x in scene.annotations if x["group"] == j)
        holds = {"left of": a[2] <= b[0], "right of": a[0] >= b[2], "above": a[3] <= b[1], "below": a[1] >= b[3]}
        assert holds[rel], (rel, a, b)


def test_recoloured_fill_is_nearest_its_swatch_and_stands_out(sampler):
    rng = random.Random(3)
    checked = 0
    for _ in range(60):
        scene = sampler.scene(rng, SIZE, "colors")
        ann = scene.annotations[0]
        obj = scene.spec.objects[0]
        assert ann["recoloured"] and ann["colour"] == obj.colour
        # the fill: where the object's own (un-recoloured) sprite shows its main fill colour, fully opaque
        plain = SceneSpec((ObjectSpec(obj.thing),), scene.spec.setting, scene.spec.variant)
        alone = sampler.composer.render_alone(plain, {**ann, "group": 0}, SIZE)
        fill = np.array(sampler.composer.kit.fill(sampler.composer.things[obj.thing].glyph).rgb)
        fill_px = (alone[..., 3] == 255) & (np.abs(alone[..., :3].astype(int) - fill).sum(axis=-1) < 12)
        if fill_px.sum() < 10:
            continue  # too small at this size to judge
        pixels = scene.image[fill_px]
        names = nearest_colour_names(pixels)
        assert names.count(obj.colour) / len(names) >= 0.9, (obj, names[:5])
        bg = sampler.composer.backgrounds.rgb(scene.spec.setting, SIZE, scene.spec.variant)
        behind = srgb_to_lab(bg[alone[..., 3] >= BOX_ALPHA]).mean(axis=0)
        assert np.linalg.norm(srgb_to_lab(np.array(SWATCHES[obj.colour])) - behind) >= MIN_CONTRAST_DE
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("colour", COLOUR_NAMES)
def test_recolour_paints_the_main_fill_in_every_colour(sampler, colour):
    atlas = sampler.composer.kit.atlas
    for name in ("apple", "car", "umbrella", "cup", "backpack"):
        glyph = atlas.glyph(sampler.composer.things[name].glyph)
        info = main_fill(glyph)
        assert info.colourable
        out = recolour(glyph, info.rgb, colour)
        core = fill_mask(glyph, info.rgb)[0] & (np.abs(glyph[..., :3].astype(int) - info.rgb).sum(-1) < 6)
        assert set(nearest_colour_names(out[core][:, :3])) == {colour}
        assert np.array_equal(out[..., 3], glyph[..., 3])  # the shape is untouched


def test_character_keeps_its_accessory_pixels(sampler):
    acc = Accessory("hat", "blue")
    spec = SceneSpec((ObjectSpec("fox", accessory=acc, character="Fern"),), "meadow")
    scene = sampler.composer.compose(spec, SIZE, random.Random(0))
    ann = scene.annotations[0]
    assert ann["character"] == "Fern" and ann["accessory"] == "blue hat" and ann["class"] == "fox"
    x0, y0, x1, y1 = ann["box"]
    names = nearest_colour_names(scene.image[y0:y1, x0:x1].reshape(-1, 3))
    assert names.count("blue") > 20  # the hat is there, in its colour


def test_composition_is_deterministic_by_rng(sampler):
    a = _scenes(sampler, n=8, seed=9)
    b = _scenes(sampler, n=8, seed=9)
    assert all(np.array_equal(x.image, y.image) and x.annotations == y.annotations for x, y in zip(a, b))
