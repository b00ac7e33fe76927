"""PPTX backend (python-pptx): every text a native, editable text box; deterministic bytes.

Layout points become EMU (12,700 per point). The slide size comes from the first page; a PPTX file
has one slide size. python-pptx stamps the time into the core properties and the zip entries, so
both are fixed here: identical input gives identical bytes. Image rights (Layout.rights) go into
the core properties' Comments (dc:description), which PowerPoint shows under File > Info; the
OPC core-properties schema has no rights element.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import zipfile

from lxml import etree
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_CONNECTOR, MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.util import Emu, Pt

from tfgen.layout.tree import EMU_PER_POINT, Balloon, ImageBox, Layout, Page, Paragraph, Shape, TextBox, rights_notice
from tfgen.layout import fallback, fonts, textfit
from tfgen.render.draw_common import BALLOON_CORNER, SHAPE_CORNER, ensure_face, tail_inside, text_area

FIXED_TIME = dt.datetime(2000, 1, 1, 0, 0, 0)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
TEMPLATE_THUMBNAIL = "docProps/thumbnail.jpeg"
BLANK_LAYOUT = 6  # "Blank" in python-pptx's default template

_ALIGN = {"left": PP_ALIGN.LEFT, "center": PP_ALIGN.CENTER, "right": PP_ALIGN.RIGHT}
_ANCHOR = {"top": MSO_ANCHOR.TOP, "middle": MSO_ANCHOR.MIDDLE, "bottom": MSO_ANCHOR.BOTTOM}


def emu(points: float) -> Emu:
    return Emu(int(round(points * EMU_PER_POINT)))


def render_pptx(layout: Layout) -> bytes:
    """The layout as PPTX bytes, one slide per page."""
    prs = Presentation()
    first = layout.pages[0]
    prs.slide_width = emu(first.width)
    prs.slide_height = emu(first.height)
    for page in layout.pages:
        slide = prs.slides.add_slide(prs.slide_layouts[BLANK_LAYOUT])
        _draw_page(slide, page)
    _set_properties(prs, layout)
    buf = io.BytesIO()
    prs.save(buf)
    return normalize_zip(buf.getvalue())


def _set_properties(prs, layout: Layout) -> None:
    cp = prs.core_properties
    cp.title = layout.title
    cp.author = layout.author
    cp.subject = layout.subject
    cp.keywords = ", ".join(layout.keywords)
    cp.last_modified_by = layout.author
    cp.created = FIXED_TIME
    cp.modified = FIXED_TIME
    cp.revision = 1
    cp.comments = rights_notice(layout.rights)  # also clears python-pptx's "generated using python-pptx"


def normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry dates and a fixed order ([Content_Types].xml first, then sorted).

    python-pptx's template thumbnail (a picture of an empty title slide) is dropped: a viewer
    would show it as the preview of every deck; PowerPoint writes a real one when it saves.
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    names = sorted((n for n in src.namelist() if n != TEMPLATE_THUMBNAIL), key=lambda n: (n != "[Content_Types].xml", n))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            body = src.read(name)
            if name == "_rels/.rels":
                body = _without_relationship(body, TEMPLATE_THUMBNAIL)
            dst.writestr(info, body, compresslevel=6)
    return out.getvalue()


def _without_relationship(rels_xml: bytes, target: str) -> bytes:
    root = etree.fromstring(rels_xml)
    for rel in list(root):
        if rel.get("Target", "").lstrip("/") == target:
            root.remove(rel)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _draw_page(slide, page: Page) -> None:
    if page.background:
        slide.background.fill.solid()
        slide.background.fill.fore_color.rgb = _rgb(page.background)
    for box in page.boxes:
        if isinstance(box, Shape):
            _add_shape(slide, box)
        elif isinstance(box, ImageBox):
            _add_picture(slide, box)
        elif isinstance(box, Balloon):
            _add_balloon(slide, box)
        elif isinstance(box, TextBox):
            _add_textbox(slide, box)
    if page.notes:
        slide.notes_slide.notes_text_frame.text = page.notes


def _rgb(color: str) -> RGBColor:
    return RGBColor.from_string(color.lstrip("#").upper())


def _paint(shape, fill: str | None, stroke: str | None, width: float) -> None:
    """Set fill and outline explicitly (autoshapes otherwise take the theme's accent colours)."""
    if fill:
        shape.fill.solid()
        shape.fill.fore_color.rgb = _rgb(fill)
    else:
        shape.fill.background()
    if stroke:
        shape.line.color.rgb = _rgb(stroke)
        shape.line.width = emu(width)
    else:
        shape.line.fill.background()


def _add_shape(slide, s: Shape) -> None:
    r = s.rect
    if s.kind == "line":
        if s.stroke:
            line = slide.shapes.add_connector(MSO_CONNECTOR.STRAIGHT, emu(r.x), emu(r.y), emu(r.right), emu(r.bottom))
            line.line.color.rgb = _rgb(s.stroke)
            line.line.width = emu(s.stroke_width)
            _drop_theme_style(line)
        return
    auto = {"rect": MSO_SHAPE.RECTANGLE, "rounded": MSO_SHAPE.ROUNDED_RECTANGLE, "ellipse": MSO_SHAPE.OVAL}
    shape = slide.shapes.add_shape(auto.get(s.kind, MSO_SHAPE.RECTANGLE), emu(r.x), emu(r.y), emu(r.w), emu(r.h))
    if s.kind == "rounded":
        shape.adjustments[0] = SHAPE_CORNER
    _paint(shape, s.fill, s.stroke, s.stroke_width)
    _drop_theme_style(shape)


def _drop_theme_style(shape) -> None:
    """Remove the theme style reference python-pptx gives autoshapes (its shadow and accent colours).

    Fill, outline and text colour are all set explicitly, so nothing is left to the theme.
    """
    style = shape._element.find(qn("p:style"))
    if style is not None:
        shape._element.remove(style)


def _add_picture(slide, box: ImageBox) -> None:
    r = box.rect
    pic = slide.shapes.add_picture(io.BytesIO(box.image.png), emu(r.x), emu(r.y), emu(r.w), emu(r.h))
    x0, y0, x1, y1 = box.src
    w, h = box.image.width, box.image.height
    pic.crop_left, pic.crop_top = x0 / w, y0 / h
    pic.crop_right, pic.crop_bottom = 1 - x1 / w, 1 - y1 / h
    alt = box.alt or box.image.alt
    if alt:
        pic._element.nvPicPr.cNvPr.set("descr", alt)


def _add_textbox(slide, box: TextBox) -> None:
    r = box.rect
    shape = slide.shapes.add_textbox(emu(r.x), emu(r.y), emu(r.w), emu(r.h))
    if box.fill or box.stroke:
        _paint(shape, box.fill, box.stroke, 1.0)
    pad = box.padding
    _fill_text(shape.text_frame, box, (pad, pad, pad, pad), box.valign)


def _add_balloon(slide, b: Balloon) -> None:
    r = b.rect
    tx, ty = b.tail
    inside = tail_inside(b)
    if b.shape == "ellipse":
        kind = MSO_SHAPE.OVAL if inside else MSO_SHAPE.OVAL_CALLOUT
    else:
        kind = MSO_SHAPE.ROUNDED_RECTANGLE if inside else MSO_SHAPE.ROUNDED_RECTANGULAR_CALLOUT
    shape = slide.shapes.add_shape(kind, emu(r.x), emu(r.y), emu(r.w), emu(r.h))
    if not inside:
        # Callout adjustments: the tail tip's offset from the centre, as fractions of width and height.
        shape.adjustments[0] = (tx - (r.x + r.w / 2)) / max(r.w, 1e-6)
        shape.adjustments[1] = (ty - (r.y + r.h / 2)) / max(r.h, 1e-6)
        if b.shape != "ellipse":
            shape.adjustments[2] = BALLOON_CORNER
    elif b.shape != "ellipse":
        shape.adjustments[0] = BALLOON_CORNER
    _paint(shape, b.fill, b.stroke, b.stroke_width)
    _drop_theme_style(shape)
    if b.speaker:
        shape.name = f"Balloon: {b.speaker}"
    _fill_text(shape.text_frame, b, _balloon_margins(b), "middle", keep_lines=True)


def _balloon_margins(b: Balloon) -> tuple[float, float, float, float]:
    """Text-frame margins (left, top, right, bottom) that put the lines where the layout did.

    A preset shape already confines its text to its own text rectangle (the ellipse's inscribed
    rectangle, the rounded box less its corners); margins count from there. The lines are kept
    with explicit breaks, so the frame can be wider than the text: that slack keeps a viewer whose
    measurements differ by a hair from wrapping a line the layout did not wrap.
    """
    r = b.rect
    if b.shape == "ellipse":
        inset_x, inset_y = r.w * (1 - 1 / math.sqrt(2)) / 2, r.h * (1 - 1 / math.sqrt(2)) / 2
    else:
        inset_x = inset_y = min(r.w, r.h) * BALLOON_CORNER * 0.29289
    frame_left, frame_right = r.x + inset_x, r.right - inset_x
    frame_top, frame_bottom = r.y + inset_y, r.bottom - inset_y
    area = text_area(b)
    top = max(area.y - frame_top, 0.0)
    bottom = max(frame_bottom - area.bottom, 0.0)
    if b.style.align == "left":
        return max(area.x - frame_left, 0.0), top, 0.0, bottom
    if b.style.align == "right":
        return 0.0, top, max(frame_right - area.right, 0.0), bottom
    offset = (area.x + area.w / 2) - (frame_left + frame_right) / 2
    return max(2 * offset, 0.0), top, max(-2 * offset, 0.0), bottom


def _fill_text(tf, box: TextBox | Balloon, margins: tuple[float, float, float, float], valign: str, keep_lines: bool = False) -> None:
    """Paragraphs into a text frame: wrap on, autofit off, margins (left, top, right, bottom).

    `keep_lines` writes the layout's line breaks as explicit breaks (balloons); otherwise the
    viewer wraps the paragraph itself, which keeps body text editable as prose.
    """
    tf.word_wrap = True
    tf.auto_size = MSO_AUTO_SIZE.NONE
    left, top, right, bottom = (max(m, 0.0) for m in margins)
    # Shifting both insets moves the lines up by `shift` whatever the anchor; a negative inset is
    # valid DrawingML and keeps unpadded text at the layout's baselines.
    shift = viewer_baseline_shift(box.style)
    tf.margin_left, tf.margin_top, tf.margin_right, tf.margin_bottom = emu(left), emu(top - shift), emu(right), emu(bottom + shift)
    tf.vertical_anchor = _ANCHOR.get(valign, MSO_ANCHOR.TOP)
    style = box.style
    gap = getattr(box, "paragraph_gap", 0.0)
    paras = box.paragraphs or [Paragraph("", ())]
    for i, para in enumerate(paras):
        p = tf.paragraphs[0] if i == 0 else tf.add_paragraph()
        p.alignment = _ALIGN.get(style.align, PP_ALIGN.LEFT)
        p.line_spacing = Pt(style.size * style.leading)
        if gap and i < len(paras) - 1:
            p.space_after = Pt(gap)
        if para.bullet_level is not None:
            _make_bullet(p, para.bullet_level, style.size, ensure_face(style.font).pptx_name, glyph=not para.continued)
        if keep_lines and para.lines:
            for j, line in enumerate(para.lines):
                if j:
                    p.add_line_break()
                _add_runs(p, line, style)
        else:
            _add_runs(p, _editable_text(para), style)


def _add_runs(p, text: str, style) -> None:
    """One run per face: characters the face lacks go in runs of the fallback face that has them."""
    ensure_face(style.font)
    pieces = fallback.runs(text, style.font) if fallback.missing_chars(text, style.font) else [(text, style.font)]
    for piece, key in pieces:
        face = ensure_face(key)
        run = p.add_run()
        run.text = piece
        font = run.font
        font.name = face.pptx_name
        font.bold = face.bold
        font.italic = face.italic
        font.size = Pt(style.size)
        font.color.rgb = _rgb(style.color)


def viewer_baseline_shift(style) -> float:
    """How much lower than textfit's first baseline a viewer puts it, in points.

    With exact line spacing, LibreOffice (measured here) sets each baseline one descent above the
    bottom of its line box: `leading * size - descent * size` below the top; textfit centres the
    glyphs in the line box instead. PowerPoint places it within about half a point of LibreOffice.
    """
    from reportlab.pdfbase import pdfmetrics

    descent = abs(pdfmetrics.getFont(fonts.register_pdf(style.font)).face.descent) / 1000.0
    viewer = (style.leading - descent) * style.size
    return viewer - textfit.first_baseline(style.font, style.size, style.leading)


def _editable_text(para: Paragraph) -> str:
    """The paragraph's source text when its lines are that text re-wrapped, else the lines joined."""
    if "".join(para.text.split()) == "".join("".join(para.lines).split()):
        return " ".join(para.text.split())
    return " ".join(para.lines)


def _make_bullet(p, level: int, size: float, typeface: str, glyph: bool = True) -> None:
    """A real bullet: level, hanging indent and a bullet character in the text's own face.

    Without `glyph` (the continuation of a bullet split across frames) the text keeps the
    bullet's indent but shows no bullet character.
    """
    p.level = min(level, 8)
    indent = textfit.BULLET_INDENT_EM * size
    ppr = p._p.get_or_add_pPr()
    ppr.set("marL", str(int(emu(indent * (level + 1)))))
    if not glyph:
        ppr.set("indent", "0")
        etree.SubElement(ppr, qn("a:buNone"))
        return
    ppr.set("indent", str(-int(emu(indent))))
    etree.SubElement(ppr, qn("a:buFont")).set("typeface", typeface)
    bu = etree.SubElement(ppr, qn("a:buChar"))
    bu.set("char", textfit.BULLET_GLYPH)
