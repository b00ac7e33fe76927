"""The shipped default model: it is in the package, loads, credits its data, and makes a comic end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from tfgen.resources import default_model_dir
from tfgen.structure import check_kind

MAX_SHIPPED_BYTES = 40 * 1024 * 1024  # issue 7: at most 40 MB in all


def test_the_default_model_ships_small_and_loads():
    from tfgen.train.checkpoint import load_checkpoint

    directory = default_model_dir()
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= MAX_SHIPPED_BYTES
    assert (directory / "MODEL_CARD.md").is_file()
    ckpt = load_checkpoint(directory)  # checks every file's size and SHA-256 against config.json
    sampler = ckpt.config["sampler"]
    assert sampler["name"] in ("euler", "heun", "ddim", "ddpm") and sampler["steps"] >= 1
    assert "OpenMoji" in ckpt.config["data_attribution"] and ckpt.config["data_licence"] == "CC BY-SA 4.0"


def test_the_readme_command_makes_a_comic_on_the_default_model(tmp_path):
    """The README's first command, as a user runs it (a fresh process, no --model), on the shipped model."""
    out, keep = tmp_path / "fox.pdf", tmp_path / "fox.json"
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "tfgen", "comic", "a fox finds a lantern in the forest",
                           "-o", str(out), "--keep-json", str(keep)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    from tfgen.document import Document

    doc = Document.from_json(keep.read_text(encoding="utf-8"))
    assert check_kind(doc, "comic", len(doc.images)) == [] and len(doc.images) >= 1
    defaults = json.loads((default_model_dir() / "config.json").read_text())["sampler"]
    assert doc.meta["sampler"] == defaults["name"] and doc.meta["steps"] == defaults["steps"]
    reader = PdfReader(str(out))
    assert len(reader.pages) >= 1
    assert "OpenMoji" in str(reader.metadata.get("/Rights", ""))


def test_info_says_a_staged_model_was_fine_tuned():
    """The default model is three stages; `tfgen info` must not present the last stage's steps as all of it."""
    from typer.testing import CliRunner

    from tfgen.cli import app

    result = CliRunner().invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["fine_tuned"] is True and summary["training_steps"] > 0
    text = CliRunner().invoke(app, ["info"], env={"NO_COLOR": "1", "COLUMNS": "300"}).output
    assert "steps of fine-tuning" in text
