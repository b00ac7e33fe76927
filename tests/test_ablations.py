"""benchmarks/ablations.py at the tiny scale (every arm, one step) and its claim sentences on handcrafted rows."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import ablation_arms as arms  # noqa: E402
import ablations  # noqa: E402

torch.set_num_threads(1)

REPORT_KEYS = {"format", "model", "settings", "suites", "skipped"}
ROW_KEYS = set(arms.ROW_KEYS)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablations")
    assert ablations.main(["--out", str(out), "--scale", "tiny", "--threads", "1"]) == 0
    return out


def test_every_arm_writes_an_eval_report_and_a_row(tiny_run):
    results = json.loads((tiny_run / "results.json").read_text())
    assert [r["arm"] for r in results["rows"]] == list(arms.ARM_NAMES)
    for row in results["rows"]:
        assert ROW_KEYS <= set(row), row["arm"]
        report = json.loads((tiny_run / row["arm"] / "report.json").read_text())
        assert REPORT_KEYS <= set(report) and report["format"] == "tfgen.eval/1"
        assert {"compositional", "consistency"} <= set(report["suites"]), row["arm"]
        assert row["report"] == f"{row['arm']}/report.json"
        assert row["seconds_per_image"] > 0
        assert row["compositional"] == report["suites"]["compositional"]["overall"]
        # The eval ran with the row's own sampler and guidance (steps capped at the tiny scale).
        name, steps, guidance = arms.sampler_for(next(a for a in (*arms.TRAINING_ARMS, *arms.SAMPLER_ARMS)
                                                      if a.name == row["arm"]), arms.SCALES["tiny"])
        assert report["model"]["config"]["sampling_used"] == {"sampler": name, "steps": steps, "guidance": guidance}


def test_training_arms_differ_only_in_their_switch(tiny_run):
    results = json.loads((tiny_run / "results.json").read_text())
    base = json.loads((tiny_run / "baseline" / "run" / "checkpoint" / "config.json").read_text())["model"]
    for arm in arms.TRAINING_ARMS:
        config = json.loads((tiny_run / arm.name / "run" / "checkpoint" / "config.json").read_text())
        differs = {k for k in base if config["model"][k] != base[k]}
        assert differs == {k for k, v in arm.model_changes.items() if base[k] != v}, arm.name
        assert config["training"]["steps_done"] == 1
    rows = {r["arm"]: r for r in results["rows"]}
    assert rows["causal-images"]["heldout_loss"] != rows["baseline"]["heldout_loss"]  # the switch is live
    for arm in arms.TRAINING_ARMS:
        row = rows[arm.name]
        assert len(row["loss_by_t"]) == arms.N_T_RANGES and row["heldout_images"] > 0
        assert row["t_ranges"][0][0] == 0 and row["t_ranges"][-1][1] == 1000
        assert row["budget"].startswith("1 x 2 x 256")


def test_table_has_a_row_per_arm_and_a_sentence_per_claim(tiny_run):
    text = (tiny_run / "ablations.md").read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(lines) == 1 + len(arms.ARM_NAMES)  # header + one per arm
    for name in arms.ARM_NAMES:
        assert sum(ln.startswith(f"| {name} |") for ln in lines) == 1, name
    for claim in arms.CLAIMS:
        assert f"**{claim.text}**" in text
    assert "one seed only" in text  # a single seed gives no yardstick


def test_a_second_seed_is_added_to_a_finished_run_and_becomes_the_yardstick(tiny_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(tiny_run, out)  # the other tests read the original
    first = json.loads((out / "baseline" / "row.json").read_text())
    assert ablations.main(["--out", str(out), "--scale", "tiny", "--only", "baseline", "--seeds", "0,1"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [(r["arm"], r["seed"]) for r in results["rows"]] == [("baseline", 0), ("baseline", 1)]
    assert results["rows"][0] == first  # the finished row was reused, not rerun
    assert (out / "baseline-seed1" / "report.json").is_file()
    assert set(results["yardstick"]) >= {"heldout_loss", "compositional"}
    assert "| baseline (seed 1) |" in (out / "ablations.md").read_text()


def row(arm: str, **values) -> dict:
    return {"arm": arm, "seed": 0, "objective": "ddpm", **values}


@pytest.mark.parametrize("causal_loss,verdict", [(0.30, arms.HELD), (0.10, arms.NOT_HELD), (0.205, arms.UNTOLD)])
def test_claim_verdicts_use_the_seed_spread_as_yardstick(causal_loss, verdict):
    rows = [row("baseline", heldout_loss=0.20, frechet=10.0, compositional=0.5),
            row("baseline", heldout_loss=0.21, frechet=11.0, compositional=0.4) | {"seed": 1},
            row("causal-images", heldout_loss=causal_loss, frechet=30.0, compositional=0.1)]
    claims = {c["claim"]: c for c in arms.claim_verdicts(rows)}
    assert set(claims) == {"bidirectional"}  # only the claims whose two arms ran
    got = claims["bidirectional"]
    assert got["verdict"] == verdict
    assert got["sentence"].startswith("**Bidirectional attention inside an image beats causal attention**")
    assert f": {verdict} on held-out image loss" in got["sentence"] and "seed spread 0.01" in got["sentence"]


def test_matches_claims_hold_within_the_yardstick_and_fail_beyond_it():
    spread = {"frechet": 2.0}
    base = row("baseline", frechet=10.0)
    for ddpm, verdict in ((11.5, arms.HELD), (20.0, arms.HELD), (7.0, arms.NOT_HELD)):
        rows = {"baseline": base, "ddpm-250": row("ddpm-250", frechet=ddpm)}
        claim = next(c for c in arms.CLAIMS if c.key == "ddim-50")
        assert arms.claim_sentence(claim, rows, spread)[0] == verdict, ddpm


def test_losses_of_different_objectives_are_not_compared():
    claim = arms.Claim("x", "Flow beats DDPM on loss", "flow", "baseline", "better", ("heldout_loss",))
    rows = {"flow": row("flow", objective="flow", heldout_loss=0.1), "baseline": row("baseline", heldout_loss=0.5)}
    verdict, sentence = arms.claim_sentence(claim, rows, {"heldout_loss": 0.01})
    assert verdict == arms.UNTOLD and "between objectives" in sentence


def test_arm_lists_and_scales_are_checked():
    assert arms.parse_arm_list("flow,baseline") == ("baseline", "flow")
    assert arms.parse_arm_list("") == arms.ARM_NAMES
    with pytest.raises(ValueError, match="unknown arm"):
        arms.parse_arm_list("baseline,sideways")
    with pytest.raises(SystemExit):
        ablations.parse_args(["--out", "x", "--only", "sideways"])
    s = ablations.parse_args(["--out", "x", "--scale", "cpu", "--steps", "7", "--seeds", "3,4"])
    assert s.scale.train["steps"] == 7 and s.scale.seeds == (3, 4) and arms.SCALES["cpu"].train["steps"] != 7
    # A sampler arm brings in the checkpoint it samples.
    picked = ablations.selected_runs(ablations.parse_args(["--out", "x", "--only", "flow-heun-10", "--seeds", "0,1"]))
    assert [(a.name, seed) for a, seed in picked] == [("flow", 0), ("flow-heun-10", 0)]
