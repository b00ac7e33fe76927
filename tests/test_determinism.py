"""Identical input gives byte-identical PDF, PPTX and CBZ files, in this process and in a fresh one."""

from __future__ import annotations

import hashlib
import os
import importlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from test_backends import sample_layout
from tfgen.render import RenderOptions, render_bytes

REPO = Path(__file__).resolve().parents[1]
FORMATS = ("pdf", "pptx", "cbz")
OPTIONS = RenderOptions(dpi=36, summary="a prompt")


def _digest(fmt: str) -> str:
    return hashlib.sha256(render_bytes(sample_layout(font="arial" if fmt == "pptx" else "sans"), fmt, OPTIONS)).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_bytes_twice(fmt):
    assert _digest(fmt) == _digest(fmt)


def test_same_bytes_in_a_fresh_process():
    """Process state (font registration order, caches, clocks) must not leak into the bytes."""
    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/tests']\n"
        "from test_determinism import _digest, FORMATS\n"
        "print(' '.join(_digest(f) for f in FORMATS))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(REPO)], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == [_digest(f) for f in FORMATS]


@pytest.mark.parametrize("fmt", ["pptx", "cbz"])
def test_zip_entries_have_fixed_dates_and_order(fmt):
    data = render_bytes(sample_layout(font="arial"), fmt, OPTIONS)
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    names = [i.filename for i in infos]
    first = "[Content_Types].xml" if fmt == "pptx" else "ComicInfo.xml"
    assert names[0] == first and names[1:] == sorted(names[1:])
    assert "docProps/thumbnail.jpeg" not in names  # python-pptx's template preview is dropped


def test_pptx_core_properties_carry_no_clock():
    from pptx import Presentation

    cp = Presentation(io.BytesIO(render_bytes(sample_layout(font="arial"), "pptx"))).core_properties
    assert cp.created.year == 2000 and cp.modified == cp.created


def test_pdf_has_no_current_date():
    import datetime as dt

    data = render_bytes(sample_layout(), "pdf")
    assert f"D:{dt.datetime.now(dt.timezone.utc).year}".encode() not in data


@pytest.mark.parametrize("kind, fmt", [("comic", "pdf"), ("comic", "cbz"), ("magazine", "pdf"), ("deck", "pptx")])
def test_examples_render_identically(kind, fmt):
    try:
        importlib.import_module(f"tfgen.layout.{kind}")
    except ImportError as exc:
        pytest.skip(f"the {kind} composer is not available yet ({exc})")
    from tfgen.io_docs import read_document
    from tfgen.layout.compose import compose

    def once() -> bytes:
        doc = read_document(str(REPO / "examples" / f"{kind}.json"))
        return render_bytes(compose(doc, kind, target=fmt), fmt, OPTIONS)

    assert once() == once()


# --- any well-formed layout renders (hypothesis) ----------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_backends import _picture  # noqa: E402
from tfgen.layout.tree import Balloon, ImageBox, Layout, Page, Paragraph, Rect, Shape, TextBox, TextStyle  # noqa: E402

coord = st.floats(0, 200, allow_nan=False)
size = st.floats(0, 200, allow_nan=False)
rects = st.builds(Rect, coord, coord, size, size)
colours = st.sampled_from([None, "#000000", "#12AB9F"])
words = st.text(alphabet="ab \u00e9\u72d0", min_size=0, max_size=12)
paragraphs = st.lists(st.builds(lambda t, lvl: Paragraph(t, tuple(t.split("\n")), lvl), words, st.none() | st.integers(0, 2)), max_size=3)
styles = st.builds(TextStyle, st.sampled_from(["sans", "arial", "serif-bold"]), st.floats(4, 30), st.just("#000000"),
                   st.sampled_from(["left", "center", "right"]))
boxes = st.one_of(
    st.builds(Shape, rects, st.sampled_from(["rect", "rounded", "ellipse", "line"]), colours, colours),
    st.builds(TextBox, rects, paragraphs, styles, fill=colours, stroke=colours, padding=st.floats(0, 10),
              valign=st.sampled_from(["top", "middle", "bottom"])),
    st.builds(Balloon, rects, paragraphs, styles, st.tuples(coord, coord), shape=st.sampled_from(["ellipse", "rounded"])),
    st.builds(lambda r, x0, y0: ImageBox(r, _picture(), (x0, y0, x0 + 50, y0 + 40)), rects, st.integers(0, 150), st.integers(0, 60)),
)


@settings(max_examples=int(os.environ.get("TFGEN_FUZZ_EXAMPLES", "20")), deadline=None)
@given(page_boxes=st.lists(boxes, max_size=6))
def test_any_layout_renders_in_every_format(page_boxes):
    layout = Layout("deck", [Page(240, 240, boxes=page_boxes)], title="t")
    for fmt in ("pdf", "pptx", "png"):
        assert render_bytes(layout, fmt, RenderOptions(dpi=18))


def test_make_examples_reproduces_the_committed_examples(tmp_path):
    """The sample documents are exactly what examples/make_examples.py draws (nothing stale)."""
    sys.path.insert(0, str(REPO / "examples"))
    try:
        import make_examples
    finally:
        sys.path.remove(str(REPO / "examples"))
    written = make_examples.main(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} >= {"comic.json", "magazine.json", "deck.json", "markdown/doc.md"}
    for path in written:
        assert path.read_bytes() == (REPO / "examples" / path.relative_to(tmp_path)).read_bytes(), path.name
