"""`tfgen data build` / `tfgen data show` through the real Typer app."""

from __future__ import annotations

from typer.testing import CliRunner

from tfgen.cli import app

runner = CliRunner()


def _build(*args):
    return runner.invoke(app, ["data", "build", *args])


def test_n_must_be_positive(tmp_path):
    for n in ("0", "-3"):
        res = _build("--out", str(tmp_path / "x"), "--n", n)
        assert res.exit_code == 1 and "--n" in res.output and "at least 1" in res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


def test_unknown_kind_is_named(tmp_path):
    res = _build("--out", str(tmp_path / "x"), "--n", "2", "--kinds", "caption,poem")
    assert res.exit_code == 1 and "'poem'" in res.output and "comic" in res.output


def test_existing_non_empty_folder_needs_force(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    res = _build("--out", str(out), "--n", "2", "--image-size", "32")
    assert res.exit_code == 1 and "--force" in res.output
    assert (out / "keep.txt").read_text() == "mine"
    res = _build("--out", str(out), "--n", "2", "--image-size", "32", "--force")
    assert res.exit_code == 0, res.output
    assert (out / "manifest.json").is_file() and not (out / "keep.txt").exists()


def test_build_then_show(tmp_path):
    out = tmp_path / "ds"
    assert _build("--out", str(out), "--n", "3", "--image-size", "32", "--kinds", "caption,comic").exit_code == 0
    sheet = tmp_path / "sheet.png"
    res = runner.invoke(app, ["data", "show", str(out), "-o", str(sheet), "--boxes"])
    assert res.exit_code == 0, res.output
    from PIL import Image

    with Image.open(sheet) as img:
        assert img.width > 100 and img.height > 100
    res = runner.invoke(app, ["data", "show", str(out), "--index", "99", "-o", str(sheet)])
    assert res.exit_code == 1 and "--index 99" in res.output
    res = runner.invoke(app, ["data", "show", str(tmp_path), "-o", str(sheet)])
    assert res.exit_code == 1 and "manifest.json" in res.output
