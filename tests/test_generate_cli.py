"""`tfgen generate`, `tfgen comic|magazine|deck` and `tfgen info` on a tiny checkpoint, through CliRunner."""

from __future__ import annotations

import io
import json
import os

import pytest
import torch
import typer
from pypdf import PdfReader
from typer.testing import CliRunner

from conftest_model import build_tiny_checkpoint
from tfgen.cli import _Group
from tfgen.cli.generate import register
from tfgen.document import Document
from tfgen.structure import check_kind

torch.set_num_threads(1)
runner = CliRunner()
FAST = ["--steps", "2", "--threads", "1"]


def app() -> typer.Typer:
    # A local app (tfgen.cli.COMMAND_MODULES is the lead's to extend) with the real error handling.
    a = typer.Typer(cls=_Group, pretty_exceptions_enable=False, add_completion=False)
    a.callback()(lambda: None)
    register(a)
    return a


def run(args, stdin=None):
    return runner.invoke(app(), [str(a) for a in args], input=stdin)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("cli") / "ckpt"))


def test_generate_writes_a_reproducible_document_to_stdout(model):
    result = run(["generate", "a fox finds a lantern", "--kind", "comic", "--count", "2", "--model", model, *FAST])
    assert result.exit_code == 0, result.output
    doc = Document.from_json(result.stdout)
    assert doc.kind == "comic" and check_kind(doc, "comic", 2) == [] and len(doc.images) == 2
    assert doc.meta["seed"] == 0 and doc.meta["steps"] == 2 and doc.meta["sampler"] == "ddim" and doc.meta["cfg"] == 3.0


def test_generate_reads_the_prompt_from_stdin_and_writes_a_file(model, tmp_path):
    out = tmp_path / "doc.json"
    result = run(["generate", "-", "--kind", "deck", "--count", "2", "-o", out, "--model", model, *FAST],
                 stdin="the owl sees the moon\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    doc = Document.from_json(out.read_text())
    assert doc.prompt == "the owl sees the moon" and check_kind(doc, "deck", 2) == []


def test_comic_pdf_same_seed_same_file(model, tmp_path):
    a, b, c = tmp_path / "a.pdf", tmp_path / "b.pdf", tmp_path / "c.pdf"
    for path, seed in ((a, 4), (b, 4), (c, 5)):
        result = run(["comic", "a fox finds a lantern", "-o", path, "--panels", "2", "--seed", seed, "--model", model,
                      "--keep-json", path.with_suffix(".json"), *FAST])
        assert result.exit_code == 0, result.output
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert len(PdfReader(io.BytesIO(a.read_bytes())).pages) >= 1
    assert check_kind(Document.from_json(a.with_suffix(".json").read_text()), "comic", 2) == []


def test_magazine_pdf_and_deck_pptx(model, tmp_path):
    mag, deck = tmp_path / "m.pdf", tmp_path / "d.pptx"
    assert run(["magazine", "a kite over the hill", "-o", mag, "--pages", "1", "--model", model, *FAST]).exit_code == 0
    assert mag.read_bytes().startswith(b"%PDF")
    result = run(["deck", "the owl and the moon", "-o", deck, "--slides", "3", "--model", model, *FAST])
    assert result.exit_code == 0, result.output
    from pptx import Presentation

    assert len(Presentation(str(deck)).slides) >= 3


def test_unknown_prompt_word_is_warned_about(model, tmp_path):
    result = run(["generate", "a fox meets a zebra", "--kind", "none", "--max-tokens", "3", "--model", model, *FAST])
    assert result.exit_code == 0
    assert "zebra" in result.stderr and "fox" not in result.stderr.split("never saw")[1]


def test_info_prints_the_model_card_essentials(model):
    result = run(["info", "--model", model, "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["things"] == ["forest", "fox", "hill", "kite", "lantern", "moon", "owl"]
    assert info["defaults"]["name"] == "ddim" and info["trained_on"] == "tiny test corpus"
    assert "defaults:" in run(["info", "--model", model]).stdout


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_bad_inputs_are_one_line_errors(model, tmp_path):
    one_line_error(run(["generate", "  ", "--kind", "comic", "--model", model]), "prompt is empty")
    one_line_error(run(["generate", "-", "--kind", "comic", "--model", model], stdin="\n"), "prompt is empty")
    one_line_error(run(["generate", "a fox", "--kind", "poster", "--model", model]), "--kind", "unknown kind")
    one_line_error(run(["comic", "a fox", "--model", tmp_path / "missing"]), "not found")
    one_line_error(run(["comic", "a fox", "-o", tmp_path / "no" / "such" / "x.pdf", "--model", model]), "does not exist")
    one_line_error(run(["comic", "a fox", "-o", tmp_path / "x.doc", "--model", model]), "extension")
    one_line_error(run(["comic", "--from", tmp_path / "nope.txt", "--out-dir", tmp_path, "--model", model]),
                   "prompt file not found")
    one_line_error(run(["comic", "a fox", "--sampler", "heun", "--model", model]), "--sampler", "does not fit")
    one_line_error(run(["comic", "a fox", "--panels", "30", "--model", model]), "do not fit")
    one_line_error(run(["comic", "a fox", "--device", "tpu", "--model", model]), "--device", "unknown device")
    if not torch.cuda.is_available():
        one_line_error(run(["comic", "a fox", "--device", "cuda", "--model", model]), "CUDA is not available")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_unwritable_output_is_a_one_line_error(model, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        one_line_error(run(["comic", "a fox", "-o", locked / "x.pdf", "--model", model]), "not writable")
    finally:
        locked.chmod(0o700)


def test_output_that_is_a_folder_is_a_one_line_error(model, tmp_path):
    one_line_error(run(["generate", "a fox", "-o", tmp_path, "--model", model]), "is a folder")


def test_default_model_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr("tfgen.resources.default_model_dir", lambda: tmp_path / "default_model")
    one_line_error(run(["comic", "a fox"]), "default model is missing", "--model")


def test_bench_runs_and_reports_every_figure(model):
    from tfgen.cli.bench import register as register_bench

    a = app()
    register_bench(a)
    result = runner.invoke(a, ["bench", "--model", model, "--prefix", "20", "--steps", "2", "--step-counts", "1,2",
                               "--repeats", "1", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    figures = report["figures"]
    assert figures["cache_speedup"] > 0 and figures["guidance_batched_speedup"] > 0
    assert set(figures["seconds_per_image_by_steps"]) == {"1", "2"} and figures["text_tokens_per_second"] > 0
    names = [row["name"] for row in report["rows"]]
    assert any(n.startswith("naive loop") for n in names) and any("transfusion-pytorch" in n for n in names)
    table = runner.invoke(a, ["bench", "--model", model, "--prefix", "20", "--steps", "1", "--step-counts", "1",
                              "--repeats", "1"])
    assert table.exit_code == 0 and "prefix-cached" in table.stdout


def test_modules_import_without_torch():
    import subprocess
    import sys

    code = ("import sys, tfgen.cli.generate, tfgen.cli.bench, tfgen.batch, tfgen.sampling.options; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_generate_pipes_into_render(model, tmp_path):
    from tfgen.cli import build_app

    doc = run(["generate", "a fox finds a lantern", "--kind", "comic", "--count", "2", "--model", model, *FAST])
    assert doc.exit_code == 0
    out = tmp_path / "piped.pdf"
    rendered = runner.invoke(build_app(), ["render", "-", "--as", "comic", "-o", str(out)], input=doc.stdout)
    assert rendered.exit_code == 0, rendered.output
    assert out.read_bytes().startswith(b"%PDF")


def test_no_structure_lets_the_model_write_freely(model):
    args = ["generate", "a fox", "--kind", "comic", "--count", "2", "--model", model, *FAST]
    steered, free = run(args), run([*args, "--no-structure"])
    assert steered.exit_code == 0 and free.exit_code == 0, (steered.output, free.output)
    steered_doc, free_doc = Document.from_json(steered.stdout), Document.from_json(free.stdout)
    assert steered_doc.meta["structure"] is True and free_doc.meta["structure"] is False
    assert check_kind(steered_doc, "comic", 2) == []
