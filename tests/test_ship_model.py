"""scripts/ship_default_model.py: a checkpoint re-written with a new card, figures and attachments, still loading."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import ship_default_model  # noqa: E402


def test_shipping_rewrites_the_card_with_its_fingerprint_and_adds_the_figures(tmp_path):
    from conftest_model import build_tiny_checkpoint
    from tfgen.train.checkpoint import load_checkpoint

    source = build_tiny_checkpoint(tmp_path / "ckpt")
    card = tmp_path / "card.md"
    card.write_text("# A model card\n\nFigures below.\n")
    report = {"suites": {"compositional": {"overall": 0.25, "categories": {"counting": 0.5}},
                         "vae": {"psnr": 24.517}}, "settings": {"limit": 10, "n_per_prompt": 2, "seed": 0}}
    (tmp_path / "r.json").write_text(json.dumps(report))
    extra = tmp_path / "ablations"
    extra.mkdir()
    (extra / "row.json").write_text("{}")
    out = ship_default_model.main(["--checkpoint", str(source), "--card", str(card), "--eval", str(tmp_path / "r.json"),
                                   "--attach", str(extra), "--out", str(tmp_path / "shipped"),
                                   "--data-description", "storyworld, 12 documents"])
    shipped = load_checkpoint(out)  # the new card is fingerprinted, so the folder checks out
    assert shipped.model_card == card.read_text()
    figures = shipped.config["evaluation"]
    assert figures["compositional_overall"] == 0.25 and figures["compositional_counting"] == 0.5
    assert figures["vae_psnr_db"] == 24.52
    original = load_checkpoint(source)
    assert all((shipped.model_state[k] == v).all() for k, v in original.model_state.items())  # weights untouched
    assert (out / "ablations" / "row.json").is_file()
    assert shipped.config["training"]["data_description"] == "storyworld, 12 documents"
    from typer.testing import CliRunner

    from tfgen.cli import app

    info = CliRunner().invoke(app, ["info", "--model", str(out)])
    assert info.exit_code == 0 and "storyworld, 12 documents" in info.output


def test_caption_gap_probe_measures_both_ways_on_the_same_noise(tmp_path):
    import caption_gap

    from conftest import make_image
    from conftest_model import build_tiny_checkpoint
    from tfgen.document import Document, TextSegment
    from tfgen.train.dataset import write_dataset

    docs = [Document([TextSegment(f"A {c} kite over the hill."), make_image(8, 8, c, "x")], kind="none",
                     prompt=f"a {c} kite") for c in ("#3366cc", "#cc3333", "#33aa55", "#ddaa22")]
    data = write_dataset(tmp_path / "data", docs, image_size=8).directory
    model = build_tiny_checkpoint(tmp_path / "ckpt")  # 8 px images, like the dataset
    rows = caption_gap.main(["--model", str(model), "--data", str(data), "--t", "500,999", "--batches", "1",
                             "--batch-size", "2", "--run-dir", str(tmp_path / "run")])
    assert [r["t"] for r in rows] == [500.0, 999.0]
    for r in rows:
        assert r["kept"] > 0 and r["dropped"] > 0 and abs(r["gap"] - (r["dropped"] - r["kept"])) < 1e-9
