"""Placing an image into a frame without stretching it: cover (crop, centred) or contain (letterbox).

Both return `(src, rect)`: `src` is the pixel crop (x0, y0, x1, y1) of the image to draw and `rect`
the page rectangle (points) to draw it into; the aspect ratio of `src` equals that of `rect` up to
the rounding of the crop to whole pixels.
"""

from __future__ import annotations

from tfgen.layout.tree import Rect


def cover(img_w: int, img_h: int, frame: Rect) -> tuple[tuple[int, int, int, int], Rect]:
    """Fill `frame` completely, cropping the image symmetrically on the side that is too long."""
    if img_w <= 0 or img_h <= 0 or frame.w <= 0 or frame.h <= 0:
        return (0, 0, max(img_w, 0), max(img_h, 0)), frame
    frame_ratio = frame.w / frame.h
    if img_w / img_h > frame_ratio:  # too wide: crop left and right
        crop_w = max(1, min(img_w, round(img_h * frame_ratio)))
        x0 = (img_w - crop_w) // 2
        src = (x0, 0, x0 + crop_w, img_h)
    else:  # too tall: crop top and bottom
        crop_h = max(1, min(img_h, round(img_w / frame_ratio)))
        y0 = (img_h - crop_h) // 2
        src = (0, y0, img_w, y0 + crop_h)
    return src, frame


def contain(img_w: int, img_h: int, frame: Rect) -> tuple[tuple[int, int, int, int], Rect]:
    """Show the whole image as large as fits in `frame`, centred (letterboxed)."""
    src = (0, 0, max(img_w, 0), max(img_h, 0))
    if img_w <= 0 or img_h <= 0 or frame.w <= 0 or frame.h <= 0:
        return src, frame
    scale = min(frame.w / img_w, frame.h / img_h)
    w, h = img_w * scale, img_h * scale
    return src, Rect(frame.x + (frame.w - w) / 2, frame.y + (frame.h - h) / 2, w, h)


def aspect_error(src: tuple[int, int, int, int], rect: Rect) -> float:
    """Relative difference between the crop's and the rectangle's aspect ratios (0 = exact)."""
    sw, sh = src[2] - src[0], src[3] - src[1]
    if sw <= 0 or sh <= 0 or rect.w <= 0 or rect.h <= 0:
        return float("inf")
    return abs((sw / sh) / (rect.w / rect.h) - 1.0)
