"""The default-model recipe: its configs load with tfgen's own readers and the script's commands are real ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import train_default  # noqa: E402


def test_model_recipe_loads_with_the_trainers_readers():
    from tfgen.model.config import model_config_from_mapping
    from tfgen.train.config import load_train_config, read_toml

    train = load_train_config(REPO / "configs" / "default.toml")
    model = model_config_from_mapping(read_toml(REPO / "configs" / "default.toml")["model"])
    assert train.seq_len <= model.max_seq_len
    # A 4-panel comic's images fit one row with room for its text.
    assert 4 * (model.patches_per_image + 2) < train.seq_len // 2
    assert train.max_images * (model.patches_per_image + 2) <= train.seq_len


def test_flow_stage_fine_tunes_stage_one_changing_only_training_switches():
    from tfgen.model.config import TRAINING_SWITCHES, model_config_from_mapping
    from tfgen.train.config import load_train_config, read_toml
    from tfgen.train.pipeline import fine_tune_config

    stage1 = model_config_from_mapping(read_toml(REPO / "configs" / "default.toml")["model"])
    table = read_toml(REPO / "configs" / "default-flow.toml")["model"]
    assert set(table) <= set(TRAINING_SWITCHES)
    stage2 = fine_tune_config(stage1, table)
    assert stage2.objective == "flow" and stage2.time_shift > 1
    assert load_train_config(REPO / "configs" / "default-flow.toml").seq_len == load_train_config(
        REPO / "configs" / "default.toml").seq_len


def test_refit_stage_keeps_stage_two_and_the_refined_vae_keeps_the_latent_shape():
    from tfgen.model.config import TRAINING_SWITCHES
    from tfgen.train.config import read_toml

    flow, refit = (read_toml(REPO / "configs" / name) for name in ("default-flow.toml", "default-refit.toml"))
    assert set(refit["model"]) <= set(TRAINING_SWITCHES) and refit["model"] == flow["model"]
    assert refit["train"]["seq_len"] == flow["train"]["seq_len"]
    refine = train_default.read_table("default-vae-refine.toml", "vae")
    first = train_default.read_table("default-vae.toml", "vae")
    # `--init` keeps the first VAE's shape, so only training settings may appear here.
    assert not {"downsample", "latent_channels", "base_channels"} & set(refine)
    assert refine["image_size"] == first["image_size"]


def test_continue_experiment_trains_stage_three_further_on_the_same_latents():
    from tfgen.train.config import load_train_config, read_toml

    refit, further = (read_toml(REPO / "configs" / name) for name in ("default-refit.toml", "default-continue.toml"))
    assert "model" in further and further["model"] == refit["model"]  # no switch changes: the same objective
    a, b = (load_train_config(REPO / "configs" / name) for name in ("default-refit.toml", "default-continue.toml"))
    assert b.seq_len == a.seq_len and b.batch_size == a.batch_size
    assert b.seed != a.seed and b.lr < a.lr  # other row orders; a gentler restart from a trained model


def test_flags_spell_tables_as_cli_options():
    assert train_default.flags({"image_size": 128, "lr": 0.002, "kinds": "a,b"}) == [
        "--image-size", "128", "--lr", "0.002", "--kinds", "a,b"]
    assert train_default.flags({"force": True, "quiet": False}) == ["--force"]


def test_vae_recipe_matches_the_data_and_the_model():
    from tfgen.model.config import model_config_from_mapping
    from tfgen.model.vae import VAEConfig
    from tfgen.train.config import read_toml

    data = train_default.read_table("default-data.toml", "data")
    vae = train_default.read_table("default-vae.toml", "vae")
    model = model_config_from_mapping(read_toml(REPO / "configs" / "default.toml")["model"])
    assert vae["image_size"] == data["image_size"]
    shape = VAEConfig.for_downsample(vae["downsample"], vae["latent_channels"], vae["base_channels"]).latent_shape(
        vae["image_size"])
    assert shape[0] == model.latent_channels and shape[1] == model.latent_size


@pytest.mark.parametrize("stage", train_default.STAGES)
def test_every_flag_of_the_dry_run_is_an_option_of_its_command(stage, tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "train_default.py"), "--dry-run", "--only", stage,
                           "--run-dir", str(tmp_path)], capture_output=True, text=True, cwd=REPO, check=True)
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("+ ") and "-m tfgen" in line
    args = line.split(" -m tfgen ", 1)[1].split()
    command = args[:2] if args[0] == "data" else args[:1]
    options = {a for a in args if a.startswith("--")} | {a for a in args if a == "-o"}
    from typer.testing import CliRunner

    from tfgen.cli import app

    helptext = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "300"}).output
    for option in options:
        assert option in helptext, f"{option} is not an option of tfgen {' '.join(command)}"
    assert not (tmp_path / "data").exists()  # a dry run writes nothing
