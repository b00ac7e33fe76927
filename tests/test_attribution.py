"""The training images' attribution (OpenMoji, CC BY-SA 4.0) flows dataset manifest -> config.json ->
document meta -> Layout.rights -> every file's metadata (PDF Info, PPTX core properties, ComicInfo.xml,
PNG text chunk), and `tfgen info` shows it. Without one, nothing is written."""

from __future__ import annotations

import io
import json
import types
import zipfile
from xml.etree import ElementTree

import pytest
import torch
from PIL import Image
from pptx import Presentation
from pypdf import PdfReader
from typer.testing import CliRunner

from conftest import make_image
from tfgen.document import Document, TextSegment
from tfgen.layout.compose import compose
from tfgen.layout.tree import document_rights
from tfgen.render import RenderOptions, render_bytes, render_files
from tfgen.world.atlas import ATTRIBUTION, LICENCE

torch.set_num_threads(1)
CREDIT = ATTRIBUTION  # "OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0 (...)": not Latin-1
PROMPT = "a fox finds a lantern in the forest"


def comic(meta: dict | None = None) -> Document:
    return Document([TextSegment("# The Fox\n\n## Panel 1"), make_image(32, 32, "#cc3333", "a fox"),
                     TextSegment('Fox: "A lantern!"')], kind="comic", prompt=PROMPT, meta=dict(meta or {}))


def deck(meta: dict | None = None) -> Document:
    return Document([TextSegment("# Foxes\n\n## Slide 1\n\n- they like lanterns"), make_image(32, 32, "#3366cc")],
                    kind="deck", prompt=PROMPT, meta=dict(meta or {}))


def magazine(meta: dict | None = None) -> Document:
    return Document([TextSegment("# Fox Weekly\n\n## The lantern\n\nA fox found a lantern in the forest."),
                     make_image(32, 32, "#33aa55")], kind="magazine", prompt=PROMPT, meta=dict(meta or {}))


# --- what a file carries ------------------------------------------------------------------------

def pdf_info(data: bytes) -> dict:
    return dict(PdfReader(io.BytesIO(data)).metadata)


def pptx_comments(data: bytes) -> str:
    return Presentation(io.BytesIO(data)).core_properties.comments


def comic_info(data: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(zipfile.ZipFile(io.BytesIO(data)).read("ComicInfo.xml"))


def png_text(data: bytes) -> dict:
    return dict(Image.open(io.BytesIO(data)).text)


# --- layout -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, kind", [(comic, "comic"), (deck, "deck"), (magazine, "magazine")])
def test_every_composer_carries_the_documents_attribution(make, kind):
    assert compose(make({"attribution": CREDIT}), kind).rights == CREDIT
    assert compose(make(), kind).rights == ""


def test_only_a_non_empty_string_counts_as_attribution():
    assert document_rights({"attribution": f"  {CREDIT}\n"}) == CREDIT
    for value in (42, None, ["OpenMoji"], {"text": "x"}, "   "):
        assert document_rights({"attribution": value}) == ""
    assert compose(comic({"attribution": 42}), "comic").rights == ""


# --- backends -----------------------------------------------------------------------------------

def test_pdf_has_a_rights_entry_and_credits_after_the_prompt_in_subject():
    data = render_bytes(compose(comic({"attribution": CREDIT}), "comic"), "pdf")
    info = pdf_info(data)
    assert info["/Rights"] == CREDIT
    assert info["/Subject"] == f"{PROMPT} | Image credits: {CREDIT}"
    assert info["/Title"] == "The Fox" and info["/Author"] == "tfgen"  # the rest of Info is untouched
    assert data == render_bytes(compose(comic({"attribution": CREDIT}), "comic"), "pdf")  # still deterministic


def test_pdf_without_attribution_writes_no_rights():
    info = pdf_info(render_bytes(compose(comic(), "comic"), "pdf"))
    assert "/Rights" not in info and info["/Subject"] == PROMPT


def test_magazine_pdf_carries_it_too():
    assert pdf_info(render_bytes(compose(magazine({"attribution": CREDIT}), "magazine"), "pdf"))["/Rights"] == CREDIT


def test_pptx_comments_carry_the_credit():
    layout = compose(deck({"attribution": CREDIT}), "deck", target="pptx")
    data = render_bytes(layout, "pptx")
    assert pptx_comments(data) == f"Image credits: {CREDIT}"
    assert data == render_bytes(compose(deck({"attribution": CREDIT}), "deck", target="pptx"), "pptx")
    assert CREDIT not in pptx_comments(render_bytes(compose(deck(), "deck", target="pptx"), "pptx"))


def test_comicinfo_notes_follow_summary_as_the_schema_orders_them():
    layout = compose(comic({"attribution": CREDIT}), "comic", target="cbz")
    data = render_bytes(layout, "cbz", RenderOptions(dpi=18, summary=PROMPT))
    root = comic_info(data)
    assert root.findtext("Notes") == f"Image credits: {CREDIT}"
    tags = [child.tag for child in root]
    assert tags.index("Notes") == tags.index("Summary") + 1
    # The pages inside the archive carry it as well.
    page = zipfile.ZipFile(io.BytesIO(data)).read("001.png")
    assert png_text(page) == {"Copyright": CREDIT}
    plain = render_bytes(compose(comic(), "comic", target="cbz"), "cbz", RenderOptions(dpi=18))
    assert comic_info(plain).find("Notes") is None


def test_png_pages_have_a_copyright_text_chunk():
    pages = render_files(compose(comic({"attribution": CREDIT}), "comic", target="png"), "png", RenderOptions(dpi=18))
    assert pages and all(png_text(p) == {"Copyright": CREDIT} for p in pages)
    latin = render_files(compose(comic({"attribution": "Photos by Zoë, CC BY 4.0"}), "comic", target="png"), "png",
                         RenderOptions(dpi=18))[0]
    assert b"tEXtCopyright" in latin and png_text(latin) == {"Copyright": "Photos by Zoë, CC BY 4.0"}
    plain = render_files(compose(comic(), "comic", target="png"), "png", RenderOptions(dpi=18))
    assert all(png_text(p) == {} for p in plain)


# --- where config.json gets it ------------------------------------------------------------------

def test_rights_come_from_the_manifest_after_a_fine_tuned_checkpoints_own():
    from tfgen.train.pipeline import training_data_rights

    world = training_data_rights({"attribution": ATTRIBUTION, "licence": LICENCE})
    assert world.config_entries() == {"data_attribution": ATTRIBUTION, "data_licence": LICENCE}
    assert training_data_rights({"format": "tfgen.dataset/1"}).config_entries() == {}
    assert training_data_rights({"attribution": 7, "licence": " "}).config_entries() == {}
    init = types.SimpleNamespace(config={"data_attribution": ATTRIBUTION, "data_licence": LICENCE})
    mine = training_data_rights({"attribution": "Photos by Zoë", "licence": "CC BY 4.0"}, init)
    assert mine.attribution == f"{ATTRIBUTION}; Photos by Zoë" and mine.licence == f"{LICENCE}; CC BY 4.0"
    assert training_data_rights({"attribution": ATTRIBUTION}, init).attribution == ATTRIBUTION  # once, not twice


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`tfgen train` (tiny preset, 2 steps) on a dataset whose manifest credits OpenMoji."""
    from test_trainer import make_dataset_and_vae
    from tfgen.train.config import train_config_from_mapping
    from tfgen.train.pipeline import train_from_config

    root = tmp_path_factory.mktemp("attrib")
    data, vae = make_dataset_and_vae(root)
    manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(attribution=ATTRIBUTION, licence=LICENCE)
    (data / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    cfg = train_config_from_mapping(dict(steps=2, batch_size=2, seq_len=64, warmup_steps=1, lr=1e-3, dtype="fp32",
                                         device="cpu", data=str(data), vae=str(vae), out=str(root / "run"),
                                         log_every=2, num_threads=1))
    outcome = train_from_config(cfg, {"preset": "tiny"}, show_progress=False)  # 256 positions for generation
    return outcome.checkpoint


def test_training_records_the_manifests_attribution_in_config_json(trained):
    from tfgen.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(trained)  # still a valid checkpoint with the extra keys
    assert ckpt.config["data_attribution"] == ATTRIBUTION and ckpt.config["data_licence"] == LICENCE
    assert f"- Training images: {ATTRIBUTION}" in ckpt.model_card


def cli():
    import typer

    from tfgen.cli import _Group
    from tfgen.cli.generate import register

    app = typer.Typer(cls=_Group, pretty_exceptions_enable=False, add_completion=False)
    app.callback()(lambda: None)
    register(app)
    return app


def test_generation_copies_it_into_meta_and_the_rendered_file(trained, tmp_path):
    runner = CliRunner()
    fast = ["--model", str(trained), "--steps", "2", "--threads", "1", "--max-tokens", "24"]
    result = runner.invoke(cli(), ["generate", PROMPT, "--kind", "comic", "--count", "1", *fast])
    assert result.exit_code == 0, result.output
    assert Document.from_json(result.stdout).meta["attribution"] == ATTRIBUTION
    out = tmp_path / "fox.cbz"
    result = runner.invoke(cli(), ["comic", PROMPT, "-o", str(out), "--panels", "1", "--dpi", "18", *fast])
    assert result.exit_code == 0, result.output
    assert comic_info(out.read_bytes()).findtext("Notes") == f"Image credits: {ATTRIBUTION}"
    assert png_text(zipfile.ZipFile(out).read("001.png")) == {"Copyright": ATTRIBUTION}


def test_info_shows_the_training_datas_credit_and_licence(trained):
    runner = CliRunner()
    text = runner.invoke(cli(), ["info", "--model", str(trained)])
    assert text.exit_code == 0, text.output
    assert f"data credit:  {ATTRIBUTION}" in text.stdout and f"data licence: {LICENCE}" in text.stdout
    summary = json.loads(runner.invoke(cli(), ["info", "--model", str(trained), "--json"]).stdout)
    assert (summary["data_attribution"], summary["data_licence"]) == (ATTRIBUTION, LICENCE)


def test_a_model_without_credit_writes_none(tmp_path):
    from conftest_model import build_tiny_checkpoint

    model = build_tiny_checkpoint(tmp_path / "ckpt")
    runner = CliRunner()
    result = runner.invoke(cli(), ["generate", PROMPT, "--kind", "comic", "--model", str(model), "--steps", "2",
                                   "--threads", "1", "--count", "1", "--max-tokens", "24"])
    assert result.exit_code == 0, result.output
    assert "attribution" not in Document.from_json(result.stdout).meta
    text = runner.invoke(cli(), ["info", "--model", str(model)]).stdout
    assert "data credit" not in text and "data licence" not in text
