"""Backends on hand-built layouts: each format reopens with the right pages, text, geometry and metadata."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tfgen.document import ImageSegment
from tfgen.errors import OutputError
from tfgen.layout import textfit
from tfgen.layout.tree import Balloon, ImageBox, Layout, Page, Paragraph, Rect, Shape, TextBox, TextStyle
from tfgen.render import RenderOptions, png_page_paths, render_bytes, render_files, write_layout
from tfgen.render.draw_common import balloon_outline, place_lines, text_area
from tfgen.render.pptx import viewer_baseline_shift

PAGE_W, PAGE_H = 400.0, 300.0


def _picture() -> ImageSegment:
    """200x100: left half red, right half blue, so a crop shows which half was kept."""
    img = Image.new("RGB", (200, 100), "#FF0000")
    ImageDraw.Draw(img).rectangle((100, 0, 199, 99), fill="#0000FF")
    return ImageSegment.from_pil(img, alt="red and blue halves")


def para(text: str, level: int | None = None) -> Paragraph:
    return Paragraph(text, (text,), level)


def sample_layout(font: str = "sans", rtl: bool = False) -> Layout:
    """Two pages with every box kind; texts in reading order: Alpha, Bravo, Charlie, Delta, Echo."""
    style = TextStyle(font, 14)
    page1 = Page(
        PAGE_W,
        PAGE_H,
        background="#FFFFEE",
        notes="Remember to smile",
        boxes=[
            Shape(Rect(20, 20, 360, 140), "rect", fill="#DDDDDD", stroke="#000000", stroke_width=2),
            ImageBox(Rect(20, 20, 100, 100), _picture(), (100, 0, 200, 100), alt="the blue half"),
            TextBox(Rect(140, 20, 240, 30), [para("Alpha title")], TextStyle(font, 18, "#AA0000")),
            Balloon(Rect(140, 60, 160, 60), [para("Bravo says hi")], TextStyle(font, 12, align="center"), tail=(130, 150), speaker="Bravo"),
            TextBox(
                Rect(20, 170, 360, 110),
                [para("Charlie point"), para("Delta sub point", 1), para("Echo closing line")],
                style,
                padding=5,
                fill="#FFFFFF",
                stroke="#333333",
                paragraph_gap=2,
            ),
            Shape(Rect(20, 290, 360, 0), "line", stroke="#0000FF"),
        ],
    )
    page2 = Page(PAGE_W, PAGE_H, boxes=[
        Shape(Rect(300, 200, 80, 80), "ellipse", fill="#00AA00"),
        TextBox(Rect(20, 20, 360, 30), [para("Foxtrot second page")], style),
    ])
    return Layout("comic", [page1, page2], title="Sample Title", author="tfgen", subject="a test prompt",
                  keywords=["fox", "lantern"], rtl=rtl)


# --- shared geometry -------------------------------------------------------------------------


def test_first_baseline_follows_textfit_convention():
    box = TextBox(Rect(10, 20, 200, 100), [para("one"), para("two")], TextStyle("sans", 10, leading=1.5))
    lines = place_lines(box)
    assert lines[0].baseline == pytest.approx(20 + textfit.first_baseline("sans", 10, 1.5))
    assert lines[1].baseline - lines[0].baseline == pytest.approx(15.0)
    assert all(ln.x == 10 for ln in lines)


def test_alignment_and_vertical_centring():
    style = TextStyle("sans", 10, align="right")
    box = TextBox(Rect(0, 0, 200, 100), [para("right")], style, valign="middle", padding=4)
    (line,) = place_lines(box)
    assert line.x + textfit.text_width("right", "sans", 10) == pytest.approx(196)
    top = line.baseline - textfit.first_baseline("sans", 10, 1.2)
    assert top == pytest.approx((100 - 12) / 2)


def test_bullets_hang_at_textfit_indents():
    box = TextBox(Rect(0, 0, 300, 100), [para("top", 0), para("sub", 1)], TextStyle("sans", 10))
    glyph0, text0, glyph1, text1 = place_lines(box)
    assert glyph0.is_bullet_glyph and glyph0.x == 0
    assert text0.x == pytest.approx(textfit.bullet_text_indent(0, 10))
    assert glyph1.x == pytest.approx(textfit.bullet_glyph_indent(1, 10))
    assert text1.x == pytest.approx(textfit.bullet_text_indent(1, 10))


def test_balloon_outline_is_one_polygon_with_the_tail_tip():
    b = Balloon(Rect(100, 100, 100, 50), [para("x")], TextStyle("sans", 10), tail=(150, 220))
    pts = balloon_outline(b)
    assert (150, 220) in pts
    others = [p for p in pts if p != (150, 220)]
    # every other vertex lies on the ellipse
    for x, y in others:
        assert ((x - 150) / 50) ** 2 + ((y - 125) / 25) ** 2 == pytest.approx(1.0, abs=1e-6)
    # the stretch facing the tail (the bottom of the ellipse) was cut out
    assert min(math.dist(p, (150, 150)) for p in others) > 5


def test_balloon_with_tail_inside_has_no_tail_and_rounded_tail_cuts_a_side():
    inside = Balloon(Rect(0, 0, 100, 50), [para("x")], TextStyle("sans", 10), tail=(50, 25))
    assert (50, 25) not in balloon_outline(inside)
    rounded = Balloon(Rect(0, 0, 100, 50), [para("x")], TextStyle("sans", 10), tail=(30, 90), shape="rounded")
    pts = balloon_outline(rounded)
    tip = pts.index((30, 90))
    neighbours = (pts[tip - 1], pts[(tip + 1) % len(pts)])
    assert all(y == pytest.approx(50) for _, y in neighbours)  # the base sits on the bottom edge


# --- PDF -------------------------------------------------------------------------------------


def _pdf(layout: Layout):
    from pypdf import PdfReader

    return PdfReader(io.BytesIO(render_bytes(layout, "pdf")))


def test_pdf_pages_text_order_and_properties():
    reader = _pdf(sample_layout())
    assert len(reader.pages) == 2
    assert float(reader.pages[0].mediabox.width) == PAGE_W and float(reader.pages[0].mediabox.height) == PAGE_H
    text = reader.pages[0].extract_text()
    positions = [text.index(word) for word in ("Alpha", "Bravo", "Charlie", "Delta", "Echo")]
    assert positions == sorted(positions)
    assert "Foxtrot" in reader.pages[1].extract_text()
    meta = reader.metadata
    assert (meta.title, meta.author, meta.subject) == ("Sample Title", "tfgen", "a test prompt")
    assert meta["/Keywords"] == "fox, lantern"


def test_pdf_embeds_the_ttf_and_flips_y():
    reader = _pdf(sample_layout())
    page = reader.pages[0]
    fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    assert fonts and all("/FontFile2" in f["/FontDescriptor"] for f in fonts)  # every font embedded
    baselines = {}

    def visit(text, cm, tm, font_dict, font_size):
        if text.strip():
            baselines.setdefault(text.strip().split()[0], tm[5] * cm[3] + cm[5])

    page.extract_text(visitor_text=visit)
    expected = PAGE_H - (20 + textfit.first_baseline("sans", 18, 1.2))  # "Alpha title" box at y=20
    assert baselines["Alpha"] == pytest.approx(expected, abs=0.01)


def test_pdf_draws_the_cropped_half_of_the_image():
    reader = _pdf(sample_layout())
    (img,) = reader.pages[0].images
    pil = img.image.convert("RGB")
    r, g, b = pil.getpixel((pil.width // 2, pil.height // 2))
    assert b > 200 and r < 50  # the blue half (src x 100..200)


# --- PPTX ------------------------------------------------------------------------------------


def _pptx(layout: Layout):
    from pptx import Presentation

    return Presentation(io.BytesIO(render_bytes(layout, "pptx")))


def test_pptx_slides_size_text_and_notes():
    prs = _pptx(sample_layout(font="arial"))
    assert len(prs.slides) == 2
    assert (prs.slide_width, prs.slide_height) == (PAGE_W * 12700, PAGE_H * 12700)
    slide = prs.slides[0]
    texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text]
    assert texts == ["Alpha title", "Bravo says hi", "Charlie point\nDelta sub point\nEcho closing line"]
    assert slide.notes_slide.notes_text_frame.text == "Remember to smile"
    assert not prs.slides[1].has_notes_slide
    cp = prs.core_properties
    assert (cp.title, cp.author, cp.subject, cp.keywords) == ("Sample Title", "tfgen", "a test prompt", "fox, lantern")


def test_pptx_text_boxes_are_native_and_styled():
    from pptx.enum.text import MSO_AUTO_SIZE, PP_ALIGN

    slide = _pptx(sample_layout(font="arial")).slides[0]
    body = [s for s in slide.shapes if s.has_text_frame and s.text_frame.text.startswith("Charlie")][0]
    tf = body.text_frame
    assert tf.word_wrap is True and tf.auto_size == MSO_AUTO_SIZE.NONE
    shift = viewer_baseline_shift(TextStyle("arial", 14))
    assert 0 < shift < 0.3 * 14
    assert tf.margin_left == tf.margin_right == 5 * 12700
    assert tf.margin_top == round((5 - shift) * 12700) and tf.margin_bottom == round((5 + shift) * 12700)
    p0, p1, _ = tf.paragraphs
    run = p0.runs[0]
    assert (run.font.name, run.font.size.pt, run.font.bold) == ("Arial", 14, False)
    assert p1.level == 1 and p1._p.pPr.find("{http://schemas.openxmlformats.org/drawingml/2006/main}buChar") is not None
    title = [s for s in slide.shapes if s.has_text_frame and s.text_frame.text == "Alpha title"][0]
    assert str(title.text_frame.paragraphs[0].runs[0].font.color.rgb) == "AA0000"
    balloon = [s for s in slide.shapes if s.has_text_frame and s.text_frame.text == "Bravo says hi"][0]
    assert balloon.text_frame.paragraphs[0].alignment == PP_ALIGN.CENTER


def test_pptx_picture_crop_and_alt_text():
    slide = _pptx(sample_layout(font="arial")).slides[0]
    (pic,) = [s for s in slide.shapes if s.shape_type == 13]  # MSO_SHAPE_TYPE.PICTURE
    assert pic.crop_left == pytest.approx(0.5) and pic.crop_right == pytest.approx(0.0)
    assert pic._element.nvPicPr.cNvPr.get("descr") == "the blue half"
    assert (pic.left, pic.top, pic.width, pic.height) == (20 * 12700, 20 * 12700, 100 * 12700, 100 * 12700)


def test_pptx_balloon_is_a_callout_pointing_at_the_tail():
    slide = _pptx(sample_layout(font="arial")).slides[0]
    balloon = [s for s in slide.shapes if s.has_text_frame and s.text_frame.text == "Bravo says hi"][0]
    geom = balloon._element.spPr.find("{http://schemas.openxmlformats.org/drawingml/2006/main}prstGeom")
    assert geom.get("prst") == "wedgeEllipseCallout"
    # tail (130, 150); balloon centre (220, 90), size 160 x 60
    assert balloon.adjustments[0] == pytest.approx((130 - 220) / 160, abs=1e-4)
    assert balloon.adjustments[1] == pytest.approx((150 - 90) / 60, abs=1e-4)


def test_pptx_16_9_is_exact_emu():
    layout = Layout("deck", [Page(960, 540, boxes=[TextBox(Rect(10, 10, 200, 40), [para("Hi")], TextStyle("arial", 28))])])
    prs = _pptx(layout)
    assert (prs.slide_width, prs.slide_height) == (12192000, 6858000)


# --- PNG and CBZ -----------------------------------------------------------------------------


def test_png_pages_at_dpi_with_drawn_content():
    pages = render_files(sample_layout(), "png", RenderOptions(dpi=72))
    assert len(pages) == 2
    img = Image.open(io.BytesIO(pages[0])).convert("RGB")
    assert img.size == (400, 300)
    assert img.getpixel((70, 70))[2] > 200  # the blue half of the picture
    assert img.getpixel((200, 5)) == (255, 255, 238)  # page background
    page2 = Image.open(io.BytesIO(pages[1])).convert("RGB")
    assert page2.getpixel((340, 240))[1] > 150  # the green ellipse
    # text is drawn: dark pixels on the "Alpha" baseline row band
    band = img.crop((140, 22, 300, 45)).convert("L")
    assert band.getextrema()[0] < 100


def _ink_centroid(img: np.ndarray, box: tuple[float, float, float, float], k: float) -> tuple[float, float]:
    """(y, x) of the ink-weighted centre of a region given in points, in points."""
    x0, y0, x1, y1 = (int(v * k) for v in box)
    ink = 255.0 - img[y0:y1, x0:x1]
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return float((ink * ys).sum() / ink.sum() / k), float((ink * xs).sum() / ink.sum() / k)


def test_png_puts_text_where_the_pdf_does(tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    dpi = 144
    layout = sample_layout()
    (tmp_path / "s.pdf").write_bytes(render_bytes(layout, "pdf"))
    cmd = ["pdftoppm", "-r", str(dpi), "-f", "1", "-l", "1", "-gray", str(tmp_path / "s.pdf"), str(tmp_path / "p")]
    subprocess.run(cmd, check=True)
    pdf_img = np.asarray(Image.open(next(tmp_path.glob("p*.pgm"))).convert("L"), dtype=float)
    png_img = np.asarray(Image.open(io.BytesIO(render_files(layout, "png", RenderOptions(dpi=dpi))[0])).convert("L"), dtype=float)
    assert pdf_img.shape == png_img.shape
    for region in ((26, 176, 370, 275), (145, 22, 375, 48)):  # the body text box, the title
        (py, px), (qy, qx) = _ink_centroid(pdf_img, region, dpi / 72), _ink_centroid(png_img, region, dpi / 72)
        assert abs(py - qy) < 0.5 and abs(px - qx) < 0.5, f"text in {region} moved by ({qx - px:.2f}, {qy - py:.2f}) pt"


def test_cbz_holds_comicinfo_then_pages():
    data = render_bytes(sample_layout(rtl=True), "cbz", RenderOptions(dpi=36, summary="a fox finds a lantern"))
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.namelist() == ["ComicInfo.xml", "001.png", "002.png"]
    info = zf.read("ComicInfo.xml").decode()
    for field in ("<Title>Sample Title</Title>", "<Summary>a fox finds a lantern</Summary>", "<Writer>tfgen</Writer>",
                  "<PageCount>2</PageCount>", "<Manga>YesAndRightToLeft</Manga>"):
        assert field in info
    assert Image.open(io.BytesIO(zf.read("002.png"))).size == (200, 150)
    assert "<Manga>" not in zipfile.ZipFile(io.BytesIO(render_bytes(sample_layout(), "cbz", RenderOptions(dpi=18)))).read("ComicInfo.xml").decode()


# --- writing ---------------------------------------------------------------------------------


def test_png_page_naming(tmp_path):
    assert png_page_paths(tmp_path / "out.png", 1) == [tmp_path / "out.png"]
    assert png_page_paths(tmp_path / "out.png", 2) == [tmp_path / "out-001.png", tmp_path / "out-002.png"]
    written = write_layout(sample_layout(), str(tmp_path / "out.png"), "png", RenderOptions(dpi=18))
    assert [p.name for p in written] == ["out-001.png", "out-002.png"]
    assert all(p.is_file() for p in written) and not (tmp_path / "out.png").exists()


def test_png_refused_on_stdout_and_unknown_format(tmp_path):
    with pytest.raises(OutputError, match="stdout"):
        write_layout(sample_layout(), "-", "png")
    target = tmp_path / "keep.pdf"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="unknown format"):
        write_layout(sample_layout(), str(target), "docx")
    assert target.read_bytes() == b"old"


def test_failed_write_leaves_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.pdf"
    target.write_bytes(b"old")

    def boom(layout):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr("tfgen.render.pdf.render_pdf", boom)
    with pytest.raises(RuntimeError):
        write_layout(sample_layout(), str(target), "pdf")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pdf"]


def test_text_area_of_ellipse_balloon_is_inside_the_ellipse():
    b = Balloon(Rect(0, 0, 200, 100), [para("x")], TextStyle("sans", 10), tail=(0, 200))
    a = text_area(b)
    for x, y in ((a.x, a.y), (a.right, a.y), (a.x, a.bottom), (a.right, a.bottom)):
        assert ((x - 100) / 100) ** 2 + ((y - 50) / 50) ** 2 <= 1.0 + 1e-9


def test_pptx_balloon_keeps_the_layout_line_breaks_with_slack():
    from tfgen.render.pptx import _balloon_margins

    b = Balloon(Rect(100, 100, 200, 80), [Paragraph("Where does it go now?", ("Where does it", "go now?"))],
                TextStyle("arial", 12, align="center"), tail=(90, 220), text_rect=Rect(150, 125, 100, 30))
    slide = _pptx(Layout("comic", [Page(PAGE_W, PAGE_H, boxes=[b])])).slides[0]
    (shape,) = slide.shapes
    assert shape.text_frame.text == "Where does it\vgo now?"  # python-pptx shows <a:br/> as \v
    left, top, right, bottom = _balloon_margins(b)
    # centred text: the frame is the ellipse's inscribed rectangle, wider than the text rect
    assert left == right == 0.0
    inscribed_h = 80 / math.sqrt(2)
    assert top == pytest.approx(125 - (140 - inscribed_h / 2)) and bottom == pytest.approx(top)


def _baselines(gray: np.ndarray, x0: float, x1: float, k: float) -> list[float]:
    """Bottoms of the ink rows in a column band (text without descenders), in points."""
    ink = (gray[:, int(x0 * k) : int(x1 * k)] < 128).any(axis=1)
    rows = np.flatnonzero(ink)
    ends = [r for i, r in enumerate(rows) if i + 1 == len(rows) or rows[i + 1] != r + 1]
    return [(r + 1) / k for r in ends]


@pytest.mark.slow
def test_pptx_through_libreoffice_puts_lines_where_the_pdf_does(tmp_path):
    soffice = shutil.which("libreoffice") or shutil.which("soffice")
    if soffice is None or shutil.which("pdftoppm") is None:
        pytest.skip("libreoffice and pdftoppm are needed")
    specs = [(20, 1.2, "top"), (40, 1.2, "middle"), (20, 1.5, "bottom"), (10, 1.2, "top")]
    boxes = [
        TextBox(Rect(20 + i * 230, 50, 220, 400), [para("HHHH") for _ in range(3)], TextStyle("arial", size, leading=lead),
                valign=valign, padding=4 * (i % 2))
        for i, (size, lead, valign) in enumerate(specs)
    ]
    layout = Layout("deck", [Page(960, 540, boxes=boxes)])
    (tmp_path / "t.pptx").write_bytes(render_bytes(layout, "pptx"))
    (tmp_path / "t.pdf").write_bytes(render_bytes(layout, "pdf"))
    profile = f"-env:UserInstallation=file://{tmp_path}/lo-profile"
    subprocess.run([soffice, profile, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path / "lo"), str(tmp_path / "t.pptx")],
                   check=True, capture_output=True, timeout=180)
    k = 288 / 72
    images = {}
    for name, pdf in (("ours", tmp_path / "t.pdf"), ("libreoffice", tmp_path / "lo" / "t.pdf")):
        subprocess.run(["pdftoppm", "-r", "288", "-gray", str(pdf), str(tmp_path / name)], check=True)
        images[name] = np.asarray(Image.open(next(tmp_path.glob(f"{name}*.pgm"))), dtype=float)
    for i in range(len(specs)):
        ours = _baselines(images["ours"], 20 + i * 230, 240 + i * 230, k)
        theirs = _baselines(images["libreoffice"], 20 + i * 230, 240 + i * 230, k)
        assert len(ours) == len(theirs) == 3
        assert max(abs(a - b) for a, b in zip(ours, theirs)) < 0.6, (specs[i], ours, theirs)


def test_pdf_images_carry_alt_text():
    page = _pdf(sample_layout()).pages[0]
    content = page.get_contents().get_data().decode("latin-1")
    expected = "<FEFF" + "the blue half".encode("utf-16-be").hex().upper() + ">"
    start = content.index(f"/Span <</Alt {expected}>> BDC")
    assert content.index(" Do", start) < content.index("EMC", start)  # the image is inside the span


def test_characters_the_face_lacks_are_drawn_in_fallback_runs():
    from tfgen.layout import fallback

    line = "Fox \u72d0\u72f8 says hi"  # "fox" in Chinese: Source Sans has no CJK
    cjk_face = fallback.face_for_char("\u72d0", "sans")
    if cjk_face is None or cjk_face == "sans":
        pytest.skip("no CJK fallback face on this machine")
    box = TextBox(Rect(0, 0, 300, 40), [para(line)], TextStyle("sans", 12))
    (placed,) = place_lines(box)
    assert [(t, k) for _, t, k in placed.runs] == [("Fox ", "sans"), ("\u72d0\u72f8", cjk_face), (" says hi", "sans")]
    assert placed.runs[1][0] == pytest.approx(textfit.text_width("Fox ", "sans", 12))
    layout = Layout("deck", [Page(PAGE_W, PAGE_H, boxes=[box])])
    reader = _pdf(layout)
    assert "\u72d0\u72f8" in reader.pages[0].extract_text()
    assert len(reader.pages[0]["/Resources"]["/Font"]) == 2
    runs = _pptx(layout).slides[0].shapes[0].text_frame.paragraphs[0].runs
    assert [r.text for r in runs] == ["Fox ", "\u72d0\u72f8", " says hi"]
    assert runs[1].font.name == fallback_name(cjk_face) and runs[0].font.name == "Source Sans Pro"


def fallback_name(key: str) -> str:
    from tfgen.layout import fonts

    return fonts.face(key).pptx_name


def test_a_continued_bullet_keeps_its_indent_but_draws_no_glyph():
    from tfgen.layout.tree import Paragraph, Rect, TextBox, TextStyle
    from tfgen.render.draw_common import place_lines

    style = TextStyle(font="sans", size=10)
    first = Paragraph("alpha", ("alpha",), bullet_level=0)
    rest = Paragraph("beta", ("beta",), bullet_level=0, continued=True)
    lines = place_lines(TextBox(Rect(0, 0, 200, 100), [first, rest], style))
    assert [(line.text, line.is_bullet_glyph) for line in lines[1:]] == [("alpha", False), ("beta", False)]
    assert lines[0].is_bullet_glyph  # one glyph only, for the first part
    assert lines[1].x == lines[2].x  # the continuation keeps the bullet's text indent
