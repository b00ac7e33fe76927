"""PDF backend (reportlab): draws a Layout, fonts embedded, byte-identical output for identical input.

reportlab's y axis points up; every layout y (down from the top) is flipped here as `page.height - y`.

Image rights (Layout.rights) go into the document information dictionary twice: as a custom
/Rights entry (the name of XMP's dc:rights; `pdfinfo -custom`, Acrobat's Custom tab and pypdf
read it), and after the prompt in /Subject, which every viewer's properties dialog and plain
`pdfinfo` show. Info has no standard rights key; custom keys are allowed (ISO 32000-1, 14.3.3).
"""

from __future__ import annotations

import io

from reportlab.lib.colors import HexColor
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfdoc import PDFInfo, PDFName, PDFString
from reportlab.pdfbase.pdfdoc import format as pdf_format
from reportlab.pdfgen import canvas as rl_canvas

from tfgen.layout import fonts
from tfgen.layout.tree import Balloon, ImageBox, Layout, Page, Shape, TextBox, rights_notice
from tfgen.render.draw_common import balloon_outline, ensure_face, place_lines, shape_points


def render_pdf(layout: Layout) -> bytes:
    """The layout as PDF bytes."""
    buf = io.BytesIO()
    first = layout.pages[0]
    # invariant=1 fixes the creation date and document ID, so identical input gives identical bytes.
    # The initial font is written into every page; naming one of ours keeps an unembedded
    # Helvetica out of the file.
    c = rl_canvas.Canvas(
        buf,
        pagesize=(first.width, first.height),
        invariant=1,
        pageCompression=1,
        initialFontName=fonts.register_pdf(ensure_face(_first_font(layout)).key),
    )
    c.setTitle(layout.title)
    c.setAuthor(layout.author)
    c.setSubject(subject_with_rights(layout.subject, layout.rights))
    c.setKeywords(", ".join(layout.keywords))
    c.setCreator("tfgen")
    if layout.rights:
        c._doc.info = _InfoWithRights.replacing(c._doc.info, layout.rights)
    for page in layout.pages:
        c.setPageSize((page.width, page.height))
        _draw_page(c, page)
        c.showPage()
    c.save()
    return buf.getvalue()


def subject_with_rights(subject: str, rights: str) -> str:
    """/Subject: the prompt, then the image credits when there are any."""
    notice = rights_notice(rights)
    return " | ".join(part for part in (subject, notice) if part)


class _InfoWithRights(PDFInfo):
    """reportlab's Info dictionary plus a /Rights entry (reportlab has no setter for custom keys)."""

    rights = ""

    @classmethod
    def replacing(cls, info: PDFInfo, rights: str) -> "_InfoWithRights":
        new = cls()
        new.__dict__.update(info.__dict__)  # title, author, ... as the canvas set them
        new.rights = rights
        return new

    def format(self, document) -> bytes:
        body = super().format(document)
        # PDFDictionary.format ends every dictionary with b"\n>>": add our entry before it.
        if not body.endswith(b"\n>>"):
            raise AssertionError("unexpected reportlab Info dictionary layout")
        entry = pdf_format(PDFName("Rights"), document) + b" " + pdf_format(PDFString(self.rights), document)
        return body[:-3] + b"\n " + entry + b"\n>>"


def _first_font(layout: Layout) -> str:
    for page in layout.pages:
        for box in page.boxes:
            if isinstance(box, (TextBox, Balloon)):
                return box.style.font
    return "sans"


def _draw_page(c: rl_canvas.Canvas, page: Page) -> None:
    if page.background:
        c.setFillColor(HexColor(page.background))
        c.rect(0, 0, page.width, page.height, stroke=0, fill=1)
    for box in page.boxes:
        if isinstance(box, Shape):
            _draw_shape(c, page, box)
        elif isinstance(box, ImageBox):
            _draw_image(c, page, box)
        elif isinstance(box, Balloon):
            _draw_balloon(c, page, box)
        elif isinstance(box, TextBox):
            _draw_textbox(c, page, box)


def _set_paint(c: rl_canvas.Canvas, fill: str | None, stroke: str | None, width: float) -> tuple[int, int]:
    """Set colours and return reportlab's (stroke, fill) flags."""
    if fill:
        c.setFillColor(HexColor(fill))
    if stroke:
        c.setStrokeColor(HexColor(stroke))
        c.setLineWidth(width)
    return (1 if stroke else 0), (1 if fill else 0)


def _draw_shape(c: rl_canvas.Canvas, page: Page, s: Shape) -> None:
    r = s.rect
    if s.kind == "line":
        if s.stroke:
            _set_paint(c, None, s.stroke, s.stroke_width)
            c.line(r.x, page.height - r.y, r.right, page.height - r.bottom)
        return
    stroke, fill = _set_paint(c, s.fill, s.stroke, s.stroke_width)
    if not (stroke or fill):
        return
    pts = shape_points(s.kind, r)
    if pts is None:
        c.rect(r.x, page.height - r.bottom, r.w, r.h, stroke=stroke, fill=fill)
    else:
        _polygon(c, page, pts, stroke, fill)


def _polygon(c: rl_canvas.Canvas, page: Page, pts: list[tuple[float, float]], stroke: int, fill: int) -> None:
    path = c.beginPath()
    path.moveTo(pts[0][0], page.height - pts[0][1])
    for x, y in pts[1:]:
        path.lineTo(x, page.height - y)
    path.close()
    c.drawPath(path, stroke=stroke, fill=fill)


def _draw_image(c: rl_canvas.Canvas, page: Page, box: ImageBox) -> None:
    r = box.rect
    img = box.image.to_pil().crop(box.src)
    alt = box.alt or box.image.alt
    if alt:
        # reportlab has no API for alternate text; a /Span marked-content sequence with /Alt is
        # how PDF attaches it to content (ISO 32000-1, 14.9.3). Written as a UTF-16 hex string.
        c._code.append(f"/Span <</Alt {pdf_text_string(alt)}>> BDC")
    c.drawImage(ImageReader(img), r.x, page.height - r.bottom, r.w, r.h)
    if alt:
        c._code.append("EMC")


def pdf_text_string(text: str) -> str:
    """`text` as a PDF hex text string (UTF-16BE with byte-order mark): no escaping needed."""
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def _draw_lines(c: rl_canvas.Canvas, page: Page, box: TextBox | Balloon) -> None:
    c.setFillColor(HexColor(box.style.color))
    for line in place_lines(box):
        for x, text, key in line.runs:
            c.setFont(fonts.register_pdf(key), box.style.size)
            c.drawString(x, page.height - line.baseline, text)


def _draw_textbox(c: rl_canvas.Canvas, page: Page, box: TextBox) -> None:
    r = box.rect
    stroke, fill = _set_paint(c, box.fill, box.stroke, 1.0)
    if stroke or fill:
        c.rect(r.x, page.height - r.bottom, r.w, r.h, stroke=stroke, fill=fill)
    _draw_lines(c, page, box)


def _draw_balloon(c: rl_canvas.Canvas, page: Page, b: Balloon) -> None:
    stroke, fill = _set_paint(c, b.fill, b.stroke, b.stroke_width)
    c.setLineJoin(1)  # round joins keep the tail tip from spiking past the tail point
    _polygon(c, page, balloon_outline(b), stroke, fill)
    c.setLineJoin(0)
    _draw_lines(c, page, b)
