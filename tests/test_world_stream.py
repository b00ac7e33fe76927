"""The in-memory scene stream: shapes, determinism, resuming."""

from __future__ import annotations

import numpy as np
import pytest

from tfgen.errors import TfgenError
from tfgen.world.stream import SceneStream


def test_batch_shapes_and_types():
    images, captions, anns = SceneStream(seed=1, image_size=40).batch(5)
    assert images.shape == (5, 40, 40, 3) and images.dtype == np.uint8
    assert len(captions) == len(anns) == 5 and all(isinstance(c, str) and c for c in captions)
    assert all(a and all("box" in x and "class" in x for x in a) for a in anns)


def test_same_seed_same_batch_and_resume_from_position():
    a = SceneStream(seed=3, image_size=40)
    first, caps1, _ = a.batch(3)
    second, caps2, _ = a.batch(2)
    again, caps, _ = SceneStream(seed=3, image_size=40).batch(5)
    assert np.array_equal(again, np.concatenate([first, second])) and caps == caps1 + caps2
    resumed, rcaps, _ = SceneStream(seed=3, image_size=40, start=a.position - 2).batch(2)
    assert np.array_equal(resumed, second) and rcaps == caps2
    other, _, _ = SceneStream(seed=4, image_size=40).batch(3)
    assert not np.array_equal(other, first)


def test_bad_arguments():
    with pytest.raises(TfgenError):
        SceneStream(image_size=8)
    with pytest.raises(TfgenError):
        SceneStream(categories=("poems",))
    with pytest.raises(TfgenError):
        SceneStream(image_size=40).batch(0)
