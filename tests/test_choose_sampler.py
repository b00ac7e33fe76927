"""scripts/choose_sampler.py: the choice rule, and a run on a tiny checkpoint that records its choice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import choose_sampler  # noqa: E402


def row(name, steps, guidance, comp, frechet, seconds):
    return {"sampler": name, "steps": steps, "guidance": guidance, "compositional": comp, "frechet": frechet,
            "seconds_per_image": seconds}


def test_choice_is_the_best_quality_within_the_time_budget():
    rows = [row("euler", 10, 3, 0.20, 30.0, 1.0), row("euler", 20, 3, 0.30, 25.0, 2.0),
            row("heun", 20, 3, 0.40, 20.0, 3.9)]
    assert choose_sampler.choose(rows, 2.0)["steps"] == 20 and choose_sampler.choose(rows, 2.0)["sampler"] == "euler"
    assert choose_sampler.choose(rows, 4.0)["sampler"] == "heun"
    tied = [row("euler", 10, 3, 0.0, 30.0, 1.0), row("heun", 10, 3, 0.0, 22.0, 1.5)]
    assert choose_sampler.choose(tied, 2.0)["sampler"] == "heun"  # equal scores: the lower Fréchet distance


def test_grid_parsing_rejects_bad_items():
    assert choose_sampler.parse_grid("euler:10, heun:20") == [("euler", 10), ("heun", 20)]
    for bad in ("euler", "euler:x", "euler:0", ":5"):
        with pytest.raises(SystemExit):
            choose_sampler.parse_grid(bad)


def test_a_tiny_checkpoint_gets_its_measured_choice_written(tmp_path):
    from conftest_model import build_tiny_checkpoint
    from tfgen.train.checkpoint import load_checkpoint

    model = build_tiny_checkpoint(tmp_path / "ckpt")
    result = choose_sampler.main(["--model", str(model), "--limit", "2", "--grid", "ddim:2,ddim:3",
                                  "--guidance", "1,3", "--out", str(tmp_path / "choice"), "--write"])
    assert len(result["rows"]) == 3  # two samplers at guidance 3, then guidance 1 on the winner
    assert all(r["seconds_per_image"] > 0 for r in result["rows"])
    config = load_checkpoint(model).config  # still loads: the other files are untouched
    assert config["sampler"] == result["choice"] and config["sampler_measurements"]["rows"] == result["rows"]
    assert json.loads((tmp_path / "choice" / "choice.json").read_text())["choice"] == result["choice"]


def test_the_judge_can_be_pinned(tmp_path):
    from conftest_model import build_tiny_checkpoint
    from tfgen.errors import TfgenError

    model = build_tiny_checkpoint(tmp_path / "ckpt")
    with pytest.raises(TfgenError, match="no-such-detector"):  # the flag reaches the evaluation
        choose_sampler.main(["--model", str(model), "--limit", "2", "--grid", "ddim:2", "--guidance", "1",
                             "--out", str(tmp_path / "choice"), "--detector", str(tmp_path / "no-such-detector")])
