"""PNG backend (Pillow): one image per page at a chosen DPI, drawn with the same TTFs as the PDF.

Pages are drawn at SUPERSAMPLE times the target resolution and scaled down, which smooths the
balloon and shape edges that Pillow draws without anti-aliasing. Image rights (Layout.rights) go
into the PNG's "Copyright" text chunk (a keyword the PNG spec predefines): tEXt when Latin-1, else iTXt.
"""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from tfgen.layout.tree import Balloon, ImageBox, Layout, Page, Rect, Shape, TextBox
from tfgen.render.draw_common import balloon_outline, ensure_face, place_lines, rgb, shape_points

DEFAULT_DPI = 150
SUPERSAMPLE = 2


def render_png_pages(layout: Layout, dpi: int = DEFAULT_DPI) -> list[bytes]:
    """Each page of the layout as PNG bytes."""
    return [_encode(render_page_image(page, dpi), layout.rights) for page in layout.pages]


def page_pixel_size(page: Page, dpi: int) -> tuple[int, int]:
    return max(round(page.width * dpi / 72), 1), max(round(page.height * dpi / 72), 1)


def render_page_image(page: Page, dpi: int = DEFAULT_DPI) -> Image.Image:
    """One page as an RGB image of `page_pixel_size(page, dpi)` pixels."""
    size = page_pixel_size(page, dpi)
    scale = dpi / 72 * SUPERSAMPLE
    big = Image.new("RGB", (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE), rgb(page.background or "#FFFFFF"))
    draw = ImageDraw.Draw(big)
    for box in page.boxes:
        if isinstance(box, Shape):
            _draw_shape(draw, box, scale)
        elif isinstance(box, ImageBox):
            _draw_image(big, box, scale)
        elif isinstance(box, Balloon):
            _draw_balloon(draw, box, scale)
        elif isinstance(box, TextBox):
            _draw_textbox(draw, box, scale)
    return big.resize(size, Image.Resampling.LANCZOS)


def _encode(img: Image.Image, rights: str = "") -> bytes:
    buf = io.BytesIO()
    chunks = PngInfo()
    if rights:
        chunks.add_text("Copyright", rights)  # falls back to iTXt for text Latin-1 cannot hold
    img.save(buf, format="PNG", compress_level=6, pnginfo=chunks)
    return buf.getvalue()


def _px_rect(r: Rect, scale: float) -> tuple[int, int, int, int]:
    return round(r.x * scale), round(r.y * scale), round(r.right * scale), round(r.bottom * scale)


def _width(points: float, scale: float) -> int:
    return max(round(points * scale), 1)


def _draw_shape(draw: ImageDraw.ImageDraw, s: Shape, scale: float) -> None:
    box = _px_rect(s.rect, scale)
    if s.kind == "line":
        if s.stroke:
            draw.line(box, fill=rgb(s.stroke), width=_width(s.stroke_width, scale))
        return
    r = s.rect
    pts = shape_points(s.kind, r) or [(r.x, r.y), (r.right, r.y), (r.right, r.bottom), (r.x, r.bottom)]
    _polygon(draw, pts, scale, s.fill, s.stroke, s.stroke_width)


def _polygon(draw: ImageDraw.ImageDraw, pts, scale: float, fill, stroke, stroke_width: float) -> None:
    """Fill, then stroke centred on the outline as PDF does (Pillow's own outlines grow inward)."""
    xy = [(x * scale, y * scale) for x, y in pts]
    if fill:
        draw.polygon(xy, fill=rgb(fill))
    if stroke:
        # Repeating the first two points closes the outline with a proper joint at the start.
        draw.line(xy + xy[:2], fill=rgb(stroke), width=_width(stroke_width, scale), joint="curve")


def _draw_image(canvas: Image.Image, box: ImageBox, scale: float) -> None:
    x0, y0, x1, y1 = _px_rect(box.rect, scale)
    if x1 <= x0 or y1 <= y0:
        return
    img = box.image.to_pil().crop(box.src).resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
    canvas.paste(img, (x0, y0))


@functools.lru_cache(maxsize=64)
def _font(key: str, px: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(ensure_face(key).path), size=px)


def _draw_lines(draw: ImageDraw.ImageDraw, box: TextBox | Balloon, scale: float) -> None:
    px = box.style.size * scale
    color = rgb(box.style.color)
    for line in place_lines(box):
        for x, text, key in line.runs:
            # anchor "ls": x is the left edge, y the baseline, as in the PDF.
            draw.text((x * scale, line.baseline * scale), text, font=_font(key, px), fill=color, anchor="ls")


def _draw_textbox(draw: ImageDraw.ImageDraw, box: TextBox, scale: float) -> None:
    r = box.rect
    corners = [(r.x, r.y), (r.right, r.y), (r.right, r.bottom), (r.x, r.bottom)]
    _polygon(draw, corners, scale, box.fill, box.stroke, 1.0)
    _draw_lines(draw, box, scale)


def _draw_balloon(draw: ImageDraw.ImageDraw, b: Balloon, scale: float) -> None:
    _polygon(draw, balloon_outline(b), scale, b.fill, b.stroke, b.stroke_width)
    _draw_lines(draw, b, scale)
