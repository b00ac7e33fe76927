"""Images are never stretched: cover crops centred, contain letterboxes."""

from __future__ import annotations

import pytest

from tfgen.layout.imagefit import aspect_error, contain, cover
from tfgen.layout.tree import Rect

CASES = [(640, 480, Rect(10, 20, 100, 300)), (300, 900, Rect(0, 0, 400, 120)), (256, 256, Rect(5, 5, 200, 100)), (500, 500, Rect(0, 0, 50, 50))]


@pytest.mark.parametrize("w,h,frame", CASES)
def test_cover_fills_the_frame_and_keeps_the_aspect_ratio(w, h, frame):
    src, rect = cover(w, h, frame)
    assert rect == frame
    x0, y0, x1, y1 = src
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert aspect_error(src, rect) < 0.01
    # The crop is centred and only one side is cropped.
    assert abs(x0 - (w - x1)) <= 1 and abs(y0 - (h - y1)) <= 1
    assert (x1 - x0 == w) or (y1 - y0 == h)


@pytest.mark.parametrize("w,h,frame", CASES)
def test_contain_letterboxes_inside_the_frame(w, h, frame):
    src, rect = contain(w, h, frame)
    assert src == (0, 0, w, h)
    assert frame.contains(rect)
    assert aspect_error(src, rect) < 0.01
    assert rect.w == pytest.approx(frame.w) or rect.h == pytest.approx(frame.h)
    assert rect.x - frame.x == pytest.approx(frame.right - rect.right)
    assert rect.y - frame.y == pytest.approx(frame.bottom - rect.bottom)


def test_aspect_error_detects_a_stretch():
    assert aspect_error((0, 0, 100, 100), Rect(0, 0, 200, 100)) == pytest.approx(0.5)
