"""`tfgen eval` end to end: the storyworld ceiling, a VAE directory, and clean errors."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from tfgen.cli import _Group  # noqa: E402
from tfgen.cli.eval import register  # noqa: E402


def _app() -> typer.Typer:
    app = typer.Typer(cls=_Group, pretty_exceptions_enable=False)

    @app.callback()
    def _root() -> None:
        """tfgen"""

    register(app)
    return app


def _run(*args: str):
    return CliRunner().invoke(_app(), ["eval", *args])


def test_storyworld_ceiling_report_records_prompts_and_scores(tmp_path):
    grid = tmp_path / "grid.png"
    res = _run("--model", "storyworld", "--suite", "compositional", "--limit", "12", "--n-per-prompt", "1",
               "--json", "--grid", str(grid))
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["format"] == "tfgen.eval/1"
    comp = report["suites"]["compositional"]
    assert set(comp["categories"]) == {"single_object", "two_object", "counting", "colors", "position", "color_attr"}
    assert comp["overall"] >= 0.9
    assert report["prompts"]["compositional"]["n"] == 12
    assert len(report["prompts"]["compositional"]["sha256"]) == 64
    assert report["settings"]["n_per_prompt"] == 1 and report["settings"]["seed"] == 0
    assert report["suites"]["frechet"]["distance"] >= 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_scores():
    a = json.loads(_run("--model", "storyworld", "--suite", "compositional", "--limit", "6", "--n-per-prompt", "1").stdout)
    b = json.loads(_run("--model", "storyworld", "--suite", "compositional", "--limit", "6", "--n-per-prompt", "1").stdout)
    assert a["suites"]["compositional"]["records"] == b["suites"]["compositional"]["records"]


def test_consistency_and_documents_on_the_storyworld():
    res = _run("--model", "storyworld", "--suite", "consistency,documents", "--limit", "3")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["suites"]["consistency"]["score"] >= 0.9
    assert report["suites"]["documents"]["pass_rate"] == {"comic": 1.0, "magazine": 1.0, "deck": 1.0}


def test_all_suites_skip_what_the_storyworld_cannot_do(tmp_path):
    out = tmp_path / "r.json"
    res = _run("--model", "storyworld", "--limit", "6", "--n-per-prompt", "1", "-o", str(out))
    assert res.exit_code == 0, res.output
    assert res.stdout == ""  # -o without --json: nothing on stdout
    report = json.loads(out.read_text())
    assert set(report["skipped"]) == {"text", "vae"}
    assert {"compositional", "consistency", "documents", "frechet"} <= set(report["suites"])


def test_vae_suite_on_a_vae_directory(tmp_path):
    from tfgen.model.vae import VAE, VAEConfig
    from tfgen.train.checkpoint import VAEBundle, save_vae_dir

    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_channels=4, base_channels=8, channel_multipliers=(1, 2)))
    save_vae_dir(tmp_path / "vae", VAEBundle(vae, 1.0, 32, {}))
    res = _run("--model", str(tmp_path / "vae"), "--suite", "vae", "--limit", "8")
    assert res.exit_code == 0, res.output
    v = json.loads(res.stdout)["suites"]["vae"]
    assert v["images"] == 8 and v["image_size"] == 32
    assert 0 < v["psnr"] < 30  # an untrained VAE reconstructs badly, but measurably
    assert v["colour_objects"] >= 4 and v["colour_kept"] < 0.5  # and keeps few painted colours (32 px)


@pytest.mark.parametrize("args, where", [
    (("--suite", "nonsense"), "--suite"),
    (("--model", "/nonexistent/model", "--suite", "vae"), "/nonexistent/model"),
    (("--limit", "0"), "--limit"),
])
def test_bad_input_is_one_clean_error(args, where):
    res = _run(*args)
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert where in res.output


def test_all_suites_on_a_tiny_checkpoint(tmp_path):
    from conftest_model import build_tiny_checkpoint

    model = build_tiny_checkpoint(tmp_path / "ckpt")
    grid = tmp_path / "grid.png"
    res = _run("--model", str(model), "--limit", "6", "--n-per-prompt", "1", "--json", "--grid", str(grid))
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert {"compositional", "consistency", "documents", "text", "vae", "frechet"} <= set(report["suites"])
    assert report["model"]["config"]["model"]["d_model"] == 32
    assert report["suites"]["text"]["perplexity"] > 1.0
    documents = report["suites"]["documents"]
    assert documents["forced_tokens"]["comic"] > 0
    # Forcing off is measured too (not skipped): a parse rate per kind.
    assert documents["note"] == "" and set(documents["pass_rate"]) == {"comic", "magazine", "deck"}
    assert all(0.0 <= v <= 1.0 for v in documents["pass_rate"].values())
    assert 0.0 <= report["suites"]["compositional"]["overall"] <= 1.0
    assert grid.is_file()


def test_sampler_overrides_reach_the_generations_and_the_report(tmp_path):
    from conftest_model import build_tiny_checkpoint

    model = str(build_tiny_checkpoint(tmp_path / "ckpt"))
    args = ("--model", model, "--suite", "compositional", "--limit", "2", "--n-per-prompt", "1", "--json")
    a = json.loads(_run(*args, "--sampler", "ddim", "--steps", "2", "--cfg", "1").stdout)
    assert a["model"]["config"]["sampling_used"] == {"sampler": "ddim", "steps": 2, "guidance": 1.0}
    assert (a["settings"]["sampler"], a["settings"]["steps"], a["settings"]["guidance"]) == ("ddim", 2, 1.0)
    assert "missing_images" in a
    b = json.loads(_run(*args, "--sampler", "ddim", "--steps", "3", "--cfg", "1").stdout)
    assert a["suites"]["frechet"] != b["suites"]["frechet"]  # other steps, other images
    wrong = _run(*args, "--sampler", "euler")  # a flow sampler on a DDPM checkpoint
    assert wrong.exit_code == 1 and "--sampler" in wrong.output and "Traceback" not in wrong.output
