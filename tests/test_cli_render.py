"""`tfgen render` through typer's CliRunner: inputs, outputs, and every bad input as one clean line."""

from __future__ import annotations

import base64
import importlib
import io
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tfgen.cli import build_app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()


def _app():
    app = build_app()
    # Typer collapses an app with a single command into that command; give it a root callback so
    # `render` stays a subcommand here while it is the only one (see test_render_is_a_subcommand).
    if len(app.registered_commands) == 1:
        app.callback()(lambda: None)
    return app


def run(args: list[str], stdin: bytes | str | None = None):
    return runner.invoke(_app(), ["render", *args], input=stdin)


def needs_composer(kind: str) -> None:
    try:
        importlib.import_module(f"tfgen.layout.{kind}")
    except ImportError as exc:
        pytest.skip(f"the {kind} composer is not available yet ({exc})")


def assert_clean_error(result, *fragments: str) -> None:
    """Exit 1, one 'error:' line on stderr that names every fragment, no traceback, nothing on stdout."""
    assert result.exit_code == 1, (result.exit_code, result.stderr, result.exception)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert "Traceback" not in result.output
    assert result.stdout == ""


def _doc(**changes) -> dict:
    doc = json.loads((EXAMPLES / "comic.json").read_text())
    doc.update(changes)
    return doc


@pytest.fixture
def keep(tmp_path):
    """An existing output file that a failed run must leave as it was."""
    path = tmp_path / "out.pdf"
    path.write_bytes(b"previous output")
    return path


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- bad input -------------------------------------------------------------------------------


def test_malformed_json(tmp_path, keep):
    doc = _write(tmp_path, "bad.json", '{"format": "tfgen.document/1",\n  "segments": [,]}')
    result = run([doc, "--as", "comic", "-o", str(keep)])
    assert_clean_error(result, "bad.json", "malformed JSON", "line 2")
    assert keep.read_bytes() == b"previous output"


def test_unknown_format_version(tmp_path, keep):
    doc = _write(tmp_path, "v2.json", json.dumps(_doc(format="tfgen.document/2")))
    assert_clean_error(run([doc, "--as", "comic", "-o", str(keep)]), "v2.json", "format", "tfgen.document/2")
    assert keep.read_bytes() == b"previous output"


def test_unknown_segment_type(tmp_path, keep):
    data = _doc()
    data["segments"][3] = {"type": "video", "url": "x"}
    doc = _write(tmp_path, "seg.json", json.dumps(data))
    assert_clean_error(run([doc, "--as", "comic", "-o", str(keep)]), "segment 3", "video")
    assert keep.read_bytes() == b"previous output"


@pytest.mark.parametrize(
    "image, message",
    [
        ({"type": "image"}, "without 'png_base64'"),
        ({"type": "image", "png_base64": "%%%"}, "not valid base64"),
        ({"type": "image", "png_base64": base64.b64encode(b"\x89PNG\r\n\x1a\nbroken").decode()}, "corrupt image data"),
    ],
)
def test_missing_or_corrupt_image_data(tmp_path, keep, image, message):
    data = _doc()
    data["segments"][1] = image
    doc = _write(tmp_path, "img.json", json.dumps(data))
    assert_clean_error(run([doc, "--as", "comic", "-o", str(keep)]), "segment 1", message)
    assert keep.read_bytes() == b"previous output"


def test_markdown_image_that_does_not_exist(tmp_path, keep):
    doc = _write(tmp_path, "story.md", "# Title\n\nSome text.\n\n![a fox](pictures/fox.png)\n")
    assert_clean_error(run([doc, "--as", "magazine", "-o", str(keep)]), "story.md:5", "image not found", "fox.png")
    assert keep.read_bytes() == b"previous output"


@pytest.mark.parametrize("text", ['{"format": "tfgen.document/1", "segments": [{"type": "text", "text": "  "}]}', "\n\n"])
def test_empty_document(tmp_path, keep, text):
    doc = _write(tmp_path, "empty.json" if text.startswith("{") else "empty.md", text)
    assert_clean_error(run([doc, "--as", "deck", "-o", str(keep)]), "empty")
    assert keep.read_bytes() == b"previous output"


def test_missing_document_file(tmp_path):
    assert_clean_error(run([str(tmp_path / "nope.json"), "--as", "comic"]), "nope.json", "not found")


def test_unknown_template(keep):
    result = run([str(EXAMPLES / "comic.json"), "--as", "comic", "-t", "no-such-template", "-o", str(keep)])
    assert_clean_error(result, "no-such-template")
    assert keep.read_bytes() == b"previous output"


def test_malformed_template_file(tmp_path, keep):
    template = _write(tmp_path, "broken.toml", "[page\nsize = 'A4'\n")
    result = run([str(EXAMPLES / "deck.json"), "--as", "deck", "-t", template, "-o", str(keep)])
    assert_clean_error(result, "broken.toml")
    assert keep.read_bytes() == b"previous output"


def test_output_folder_missing(tmp_path):
    result = run([str(EXAMPLES / "comic.json"), "--as", "comic", "-o", str(tmp_path / "no" / "such" / "out.pdf")])
    assert_clean_error(result, "folder does not exist", str(tmp_path / "no" / "such"))


def test_output_is_a_folder(tmp_path):
    (tmp_path / "out.pdf").mkdir()
    result = run([str(EXAMPLES / "comic.json"), "--as", "comic", "-o", str(tmp_path / "out.pdf")])
    assert_clean_error(result, "is a folder", "out.pdf")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--as", "novel"], ("--as", "novel")),
        (["--as", "comic", "--format", "docx"], ("--format", "docx")),
        (["--as", "comic", "-o", "out.docx"], ("out.docx", "--format")),
        (["--as", "comic", "--format", "png", "-o", "-"], ("stdout",)),
        (["--as", "deck", "--page-size", "A4"], ("--page-size", "A4")),
    ],
)
def test_bad_options(args, fragments):
    assert_clean_error(run([str(EXAMPLES / "comic.json"), *args]), *fragments)


def test_bad_stdin(keep):
    assert_clean_error(run(["-", "--as", "comic", "-o", str(keep)], stdin='{"format": 1'), "stdin", "malformed JSON")
    assert keep.read_bytes() == b"previous output"


def test_render_is_a_subcommand():
    """The installed `tfgen` must accept `tfgen render ...` even while render is its only command."""
    from tfgen.cli import app

    result = runner.invoke(app, ["render", "no-such-file.json", "--as", "comic"])
    assert_clean_error(result, "no-such-file.json", "not found")


# --- working runs (need the composers) --------------------------------------------------------


def test_stdin_to_stdout_pdf():
    needs_composer("comic")
    from pypdf import PdfReader

    result = run(["-", "--as", "comic", "-o", "-"], stdin=(EXAMPLES / "comic.json").read_bytes())
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"%PDF-")
    text = " ".join("".join(p.extract_text() for p in PdfReader(io.BytesIO(result.stdout_bytes)).pages).split())
    assert "Something is glowing over there." in text


def test_stdout_pptx_by_format():
    needs_composer("deck")
    from pptx import Presentation

    result = run([str(EXAMPLES / "deck.json"), "--as", "deck", "--format", "pptx", "-o", "-"])
    assert result.exit_code == 0, result.stderr
    prs = Presentation(io.BytesIO(result.stdout_bytes))
    assert (prs.slide_width, prs.slide_height) == (12192000, 6858000)


def test_default_output_name_and_overwrite(tmp_path, monkeypatch):
    needs_composer("comic")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "comic.pdf").write_bytes(b"old")
    result = run([str(EXAMPLES / "comic.json"), "--as", "comic"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "comic.pdf").read_bytes().startswith(b"%PDF-")
    assert "comic.pdf" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comic.pdf"]  # no temporary files left


def test_format_from_extension_png_pages(tmp_path):
    needs_composer("deck")
    result = run([str(EXAMPLES / "deck.json"), "--as", "deck", "-o", str(tmp_path / "slides.png"), "--dpi", "18"])
    assert result.exit_code == 0, result.stderr
    pages = sorted(p.name for p in tmp_path.iterdir())
    assert len(pages) > 1 and pages[0] == "slides-001.png"


def test_markdown_input_as_magazine(tmp_path):
    needs_composer("magazine")
    from pypdf import PdfReader

    out = tmp_path / "walk.pdf"
    result = run([str(EXAMPLES / "markdown" / "doc.md"), "--as", "magazine", "-o", str(out), "--page-size", "letter"])
    assert result.exit_code == 0, result.stderr
    reader = PdfReader(str(out))
    assert float(reader.pages[0].mediabox.width) == 612
    assert "Halfway along, something glowed" in " ".join("".join(p.extract_text() for p in reader.pages).split())


def test_layout_warnings_go_to_stderr(tmp_path):
    needs_composer("deck")
    data = json.loads((EXAMPLES / "deck.json").read_text())
    bullets = "\n".join(f"- bullet number {i} with a few more words to wrap" for i in range(60))
    data["segments"].insert(1, {"type": "text", "text": f"## Too much\n\n{bullets}"})
    doc = _write(tmp_path, "long.json", json.dumps(data))
    result = run([doc, "--as", "deck", "-o", str(tmp_path / "long.pdf")])
    assert result.exit_code == 0, result.stderr
    assert "warning:" in result.stderr
    assert result.stdout == ""


# --- readers under random input (hypothesis) --------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tfgen.document import Document  # noqa: E402
from tfgen.errors import TfgenError  # noqa: E402
from tfgen.io_docs import read_document  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
SETTINGS = settings(max_examples=int(os.environ.get("TFGEN_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_or_error(source: str, **kw) -> None:
    """Reading either gives a Document or raises a TfgenError; any other exception fails the test."""
    try:
        doc = read_document(source, **kw)
    except TfgenError as exc:
        assert str(exc).strip()
        return
    assert isinstance(doc, Document) and not doc.is_empty()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("readers")


@SETTINGS
@given(value=json_values)
def test_random_json_values_give_a_clean_error(scratch, value):
    path = scratch / "random.json"
    path.write_text(json.dumps(value))
    _read_or_error(str(path), kind="comic")


def _mutate(data, path: list, new):
    """Replace (or delete, when new is the string '<delete>') the item at `path` inside `data`."""
    target = data
    for key in path[:-1]:
        target = target[key]
    if new == "<delete>":
        del target[path[-1]]
    else:
        target[path[-1]] = new


def _paths(data, prefix=()):
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return
    for key, value in items:
        yield [*prefix, key]
        yield from _paths(value, (*prefix, key))


BASE_DOC = json.loads((EXAMPLES / "deck.json").read_text())
BASE_PATHS = list(_paths(BASE_DOC))


@SETTINGS
@given(index=st.integers(0, len(BASE_PATHS) - 1), new=json_values | st.just("<delete>") | st.text(max_size=30))
def test_mutated_documents_give_a_clean_error(scratch, index, new):
    data = json.loads(json.dumps(BASE_DOC))
    _mutate(data, BASE_PATHS[index], new)
    path = scratch / "mutated.json"
    path.write_text(json.dumps(data))
    _read_or_error(str(path))


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_give_a_clean_error(scratch, data):
    path = scratch / "random.bin"
    path.write_bytes(data)
    _read_or_error(str(path))
    _read_or_error("-", stdin=io.BytesIO(data))


markdown_lines = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(["# Title", "## Heading", "- bullet", "> caption", "^ note", 'Fox: "hi"', ""]),
        st.builds(lambda alt, p: f"![{alt}]({p})", st.text(max_size=8), st.text(min_size=1, max_size=20)),
        st.just("![pic](forest.png)"),
    ),
    max_size=12,
)


@SETTINGS
@given(lines=markdown_lines)
def test_random_markdown_gives_a_clean_error(scratch, lines):
    folder = scratch / "md"
    folder.mkdir(exist_ok=True)
    (folder / "forest.png").write_bytes((EXAMPLES / "markdown" / "forest.png").read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    path = folder / "doc.md"
    path.write_text("\n".join(lines + ["![x](broken.png)"] * (len(lines) % 2)), encoding="utf-8")
    _read_or_error(str(path), kind="magazine")
