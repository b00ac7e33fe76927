"""The held-out list: shape, stability, and that the generator never draws what it holds out."""

from __future__ import annotations

import json
import random

import pytest

from tfgen.world.dataset import BuildConfig, build_dataset, iter_dataset
from tfgen.world.heldout import GENEVAL_COUNTS, build_heldout, heldout_json, heldout_path, load_heldout, natural_colours
from tfgen.world.sampling import CATEGORY_WEIGHTS, SceneSampler


@pytest.fixture(scope="module")
def heldout():
    return load_heldout()


def test_counts_follow_geneval_and_comics(heldout):
    cats = [e["category"] for e in heldout.entries]
    for cat, n in GENEVAL_COUNTS.items():
        assert cats.count(cat) == n
    assert sum(GENEVAL_COUNTS.values()) >= 550 and cats.count("comic") >= 100
    prompts = heldout.prompts()
    assert len(set(prompts)) == len(prompts)
    assert "a photo of" in heldout.prompts("two_object")[0]


def test_shipped_list_is_what_this_version_builds(heldout):
    natural, colourable = natural_colours()
    assert heldout_json(build_heldout(natural, colourable)) == heldout_path().read_text(encoding="utf-8")
    assert len(heldout.sha256) == 64


def test_held_out_colours_are_never_a_class_natural_colour(heldout):
    natural, _ = natural_colours()
    assert all(natural[c] != k for c, k in heldout.colours)


def test_violations_name_each_kind_of_held_out_composition(heldout):
    a, b = sorted(next(iter(heldout.pairs)))
    assert heldout.violations([{"class": a, "colour": "x"}, {"class": b, "colour": "y"}])
    name, n = next(iter(heldout.counts))
    assert heldout.violations([{"class": name, "colour": "x"}] * n)
    assert not heldout.violations([{"class": name, "colour": "x"}] * (n % 4 + 1)) or (name, n % 4 + 1) in heldout.counts
    cls, colour = next(iter(heldout.colours))
    assert heldout.violations([{"class": cls, "colour": colour}])
    species, acc = next(iter(heldout.characters))
    assert heldout.violations([{"class": species, "colour": "x", "accessory": acc}])
    (x, cx), (y, cy) = sorted(next(iter(heldout.colour_pairs)))
    assert heldout.violations([{"class": x, "colour": cx}, {"class": y, "colour": cy}])


def test_sampler_rejects_held_out_specs_and_never_emits_one(heldout):
    sampler = SceneSampler(heldout=heldout)
    rng = random.Random(5)
    specs = [sampler.spec(rng, cat) for cat in CATEGORY_WEIGHTS for _ in range(1500)]
    assert sum(not sampler.allowed(s) for s in specs) > 0  # the filter has real work to do
    for i in range(700):
        scene = sampler.scene(rng, 48, list(CATEGORY_WEIGHTS)[i % len(CATEGORY_WEIGHTS)])
        assert not heldout.violations(scene.annotations)


def test_built_dataset_holds_no_held_out_composition(tmp_path, heldout):
    out = tmp_path / "ds"
    manifest = build_dataset(BuildConfig(out=out, n=40, seed=11, image_size=48, shard_size=16))
    assert manifest["heldout"] == {"version": heldout.version, "sha256": heldout.sha256}
    seen_images = 0
    for doc in iter_dataset(out):
        assert doc.meta["heldout"] == heldout.version
        assert len(doc.meta["annotations"]) == len(doc.images)
        for anns in doc.meta["annotations"]:
            assert not heldout.violations(anns)
            seen_images += 1
    assert seen_images >= 40
    assert json.loads((out / "manifest.json").read_text())["licence"] == "CC BY-SA 4.0"
