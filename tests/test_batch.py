"""Batches: prompt files, stable names and seeds, failures that do not stop the rest, resume and --force."""

from __future__ import annotations

import json

import pytest
import torch
import typer
from typer.testing import CliRunner

from conftest_model import build_tiny_checkpoint
from tfgen.batch import BatchItem, item_name, item_seed, read_prompt_file, run_batch, slug
from tfgen.cli import _Group
from tfgen.cli.generate import register
from tfgen.document import Document
from tfgen.errors import TfgenError

torch.set_num_threads(1)


def test_text_prompt_file_skips_blanks_and_comments(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# my prompts\n\na fox finds a lantern\n   \nthe owl sees the moon\n")
    items = read_prompt_file(path)
    assert [(i.line, i.prompt) for i in items] == [(3, "a fox finds a lantern"), (5, "the owl sees the moon")]


def test_jsonl_prompt_file_with_options_and_bad_lines(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a fox", "panels": 2, "cfg": 4}\n{"prompt": ""}\nnot json\n'
                    '{"prompt": "x", "colour": "red"}\n{"prompt": "y", "steps": "many"}\n')
    items = read_prompt_file(path)
    assert items[0] == BatchItem(1, "a fox", {"panels": 2, "cfg": 4})
    assert [bool(i.error) for i in items] == [False, True, True, True, True]
    assert "unknown option 'colour'" in items[3].error and "wrong type" in items[4].error


def test_a_batch_item_may_switch_structure_forcing_off(tmp_path):
    from tfgen.cli.generate import Common, _options

    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a fox", "structure": false}\n{"prompt": "an owl", "structure": "no"}\n'
                    '{"prompt": "a cat", "panels": true}\n')
    items = read_prompt_file(path)
    assert items[0].options == {"structure": False} and not items[0].error
    assert "wrong type" in items[1].error and "wrong type" in items[2].error  # a bool is not a count either
    common = Common(seed=0, steps=None, sampler=None, cfg=None, temperature=0.8, top_k=0, top_p=1.0, max_tokens=None,
                    model=None, device="cpu", threads=1, quiet=True, from_file=None, out_dir=None, force=False,
                    json_lines=False)
    assert _options("comic", 4, common, items[0].options).structure is False
    assert _options("comic", 4, common, {}).structure is True


def test_unreadable_or_empty_prompt_file_is_an_error(tmp_path):
    with pytest.raises(TfgenError, match="not found"):
        read_prompt_file(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(TfgenError, match="no prompts"):
        read_prompt_file(tmp_path / "empty.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(TfgenError, match="cannot read"):
        read_prompt_file(tmp_path / "bin.txt")


def test_names_are_stable_and_seeds_depend_only_on_the_item():
    item = BatchItem(12, "A Fox, finds: the LANTERN!")
    assert item_name(item, "pdf") == "0012-a-fox-finds-the-lantern.pdf"
    assert slug("!!!") == "prompt" and len(slug("word " * 30)) <= 40
    assert item_seed(1, "a fox", {}) == item_seed(1, "a fox", {})
    assert len({item_seed(1, "a fox", {}), item_seed(2, "a fox", {}), item_seed(1, "an owl", {}),
                item_seed(1, "a fox", {"panels": 3})}) == 4
    assert item_seed(1, "a fox", {"seed": 77}) == 77


def fake_produce(fail_on: str = "", interrupt_on: str = "", calls: list | None = None):
    def produce(item, target, seed):
        if calls is not None:
            calls.append(item.prompt)
        if item.prompt == fail_on:
            raise TfgenError("cannot draw this")
        if item.prompt == interrupt_on:
            raise KeyboardInterrupt
        target.write_text(f"{item.prompt} {seed}")
    return produce


def test_a_failing_item_does_not_stop_the_others(tmp_path):
    items = [BatchItem(1, "one"), BatchItem(2, "two"), BatchItem(3, "three"), BatchItem(4, "bad", error="malformed")]
    summary = run_batch(items, tmp_path, "txt", 0, fake_produce(fail_on="two"))
    assert [r.status for r in summary.results] == ["done", "failed", "done", "failed"]
    assert (tmp_path / "0001-one.txt").exists() and (tmp_path / "0003-three.txt").exists()
    assert "2 done, 0 skipped, 2 failed" in summary.line()


def test_interrupted_batch_resumes_without_redoing_finished_items(tmp_path):
    items = [BatchItem(1, "one"), BatchItem(2, "two"), BatchItem(3, "three")]
    first = run_batch(items, tmp_path, "txt", 0, fake_produce(interrupt_on="two"))
    assert first.interrupted and [r.status for r in first.results] == ["done"]
    calls: list[str] = []
    second = run_batch(items, tmp_path, "txt", 0, fake_produce(calls=calls))
    assert [r.status for r in second.results] == ["skipped", "done", "done"] and calls == ["two", "three"]
    calls.clear()
    forced = run_batch(items, tmp_path, "txt", 0, fake_produce(calls=calls), force=True)
    assert [r.status for r in forced.results] == ["done"] * 3 and calls == ["one", "two", "three"]


# --- through the command line, on a tiny checkpoint ----------------------------------------------

@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(build_tiny_checkpoint(tmp_path_factory.mktemp("batch") / "ckpt"))


def cli(args):
    app = typer.Typer(cls=_Group, pretty_exceptions_enable=False, add_completion=False)
    app.callback()(lambda: None)
    register(app)
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_batch_with_a_bad_line_finishes_the_others_and_fails(model, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "a fox finds a lantern", "panels": 1}\n{"prompt": "bad", "panels": "x"}\n'
                       '{"prompt": "the owl sees the moon", "panels": 2}\n')
    out = tmp_path / "out"
    args = ["comic", "--from", prompts, "--out-dir", out, "--model", model, "--steps", "2", "--json",
            "--keep-json", tmp_path / "docs"]
    result = cli(args)
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [ln["status"] for ln in lines] == ["done", "failed", "done"]
    assert sorted(p.name for p in out.iterdir()) == ["0001-a-fox-finds-a-lantern.pdf", "0003-the-owl-sees-the-moon.pdf"]
    assert "2 done, 0 skipped, 1 failed" in result.stderr
    doc = Document.from_json((tmp_path / "docs" / "0003-the-owl-sees-the-moon.json").read_text())
    assert doc.meta["seed"] == lines[2]["seed"] and len(doc.images) == 2
    again = cli(args)
    assert [json.loads(ln)["status"] for ln in again.stdout.splitlines()] == ["skipped", "failed", "skipped"]


def test_cli_batch_of_documents_and_text_prompts(model, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# two prompts\na fox\nan owl\n")
    result = cli(["generate", "--kind", "deck", "--from", prompts, "--out-dir", tmp_path / "o", "--model", model,
                  "--steps", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == ["0002-a-fox.json", "0003-an-owl.json"]
    assert Document.from_json((tmp_path / "o" / names[0]).read_text()).kind == "deck"


def test_cli_batch_needs_an_out_dir_and_no_prompt(model, tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a fox\n")
    assert "--out-dir" in cli(["comic", "--from", prompts, "--model", model]).stderr
    assert "not both" in cli(["comic", "a fox", "--from", prompts, "--out-dir", tmp_path, "--model", model]).stderr
