"""The KL autoencoder: shapes, the KL term, config checks, pixel conventions, and that training helps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from tfgen.errors import TfgenError
from tfgen.model.vae import VAE, VAEConfig, kl_divergence, to_images, to_pixels, vae_loss
from tfgen.train.vae_trainer import VAETrainConfig, latent_scale_factor, psnr, train_vae

torch.set_num_threads(1)
SMALL = VAEConfig(latent_channels=4, base_channels=8, channel_multipliers=(1, 2))


def blob_images(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) uint8: a coloured field with a coloured disc at a random place."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
        r = size // 3
        x, y = (int(v) for v in rng.integers(0, size - r, 2))
        ImageDraw.Draw(img).ellipse((x, y, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        out.append(np.asarray(img))
    return np.stack(out)


def test_default_is_the_papers_shape():
    cfg = VAEConfig()
    assert cfg.downsample == 8 and cfg.latent_channels == 8
    assert cfg.latent_shape(256) == (8, 32, 32)
    with pytest.raises(TfgenError, match="multiple of 8"):
        cfg.latent_shape(100)


def test_forward_backward_shapes():
    vae = VAE(VAEConfig(base_channels=8))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = vae(x, generator=torch.Generator().manual_seed(0))
    assert out.reconstruction.shape == (2, 3, 32, 32)
    assert out.mean.shape == out.logvar.shape == (2, 8, 4, 4)
    loss, mse, kl = vae_loss(x, out, kl_weight=1e-3)
    assert torch.isclose(loss, mse + 1e-3 * kl)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in vae.parameters())


def test_sampling_is_seeded_and_mean_path_is_deterministic():
    vae = VAE(SMALL).eval()
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    a = vae(x, generator=torch.Generator().manual_seed(3)).reconstruction
    b = vae(x, generator=torch.Generator().manual_seed(3)).reconstruction
    c = vae(x, generator=torch.Generator().manual_seed(4)).reconstruction
    assert torch.equal(a, b) and not torch.equal(a, c)
    mean, _ = vae.encode(x)
    assert torch.equal(vae(x, sample=False).reconstruction, vae.decode(mean))


def test_kl_term():
    zeros = torch.zeros(2, 4, 3, 3)
    assert float(kl_divergence(zeros, zeros)) == 0.0
    # KL(N(1, 1) || N(0, 1)) = 1/2 per element; KL(N(0, e) || N(0, 1)) = (e - 1 - 1) / 2.
    assert float(kl_divergence(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))) == pytest.approx(0.5)
    assert float(kl_divergence(torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1))) == pytest.approx((np.e - 2) / 2)


def test_encode_rejects_wrong_shapes():
    vae = VAE(SMALL)
    with pytest.raises(TfgenError, match="multiples of 2"):
        vae.encode(torch.zeros(1, 3, 15, 16))
    with pytest.raises(TfgenError, match=r"\(B, 3, H, W\)"):
        vae.encode(torch.zeros(1, 1, 16, 16))


def test_config_round_trip_and_bad_values():
    cfg = VAEConfig.for_downsample(4, latent_channels=6, base_channels=16)
    assert cfg.downsample == 4 and VAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(TfgenError, match="unknown key 'latent'") as info:
        VAEConfig.from_dict({"latent": 4})
    assert info.value.where == "vae"
    with pytest.raises(TfgenError) as info:
        VAEConfig.from_dict({"latent_channels": "8"})
    assert info.value.where == "vae.latent_channels"
    with pytest.raises(TfgenError):
        VAEConfig.from_dict({"channel_multipliers": []})
    with pytest.raises(TfgenError, match="1, 2, 4, 8 or 16"):
        VAEConfig.for_downsample(3)


def test_pixel_convention_round_trip():
    arr = blob_images(2, size=8)
    pixels = to_pixels(list(arr), 8)
    assert pixels.shape == (2, 3, 8, 8) and pixels.min() >= -1 and pixels.max() <= 1
    assert float(pixels[0, 0, 0, 0]) == pytest.approx(arr[0, 0, 0, 0] / 127.5 - 1)
    back = np.stack([np.asarray(im) for im in to_images(pixels)])
    assert np.array_equal(back, arr)
    # A wide image is centre-cropped to a square before resizing.
    wide = Image.new("RGB", (30, 10), "red")
    wide.paste((0, 0, 255), (10, 0, 20, 10))
    assert to_pixels([wide], 10)[0, 2].min() == 1.0  # only the blue centre square remains


def test_tiny_vae_training_improves_heldout_psnr_and_scales_latents():
    images = blob_images(10)
    cfg = VAETrainConfig(steps=60, batch_size=8, lr=3e-3, image_size=16, holdout=0.2, seed=0)
    result = train_vae(images, SMALL, cfg)
    assert result.heldout_images == 2 and result.train_images == 8
    assert result.psnr_after > result.psnr_before + 1.5
    vae = result.bundle.vae
    scale = latent_scale_factor(vae, images)
    assert scale == pytest.approx(result.bundle.scale_factor, rel=0.5)
    with torch.no_grad():
        mean, _ = vae.encode(to_pixels(list(images), 16))
    assert float((mean * scale).std()) == pytest.approx(1.0, rel=0.2)


def test_psnr_figures():
    a = torch.zeros(1, 3, 4, 4)
    assert psnr(a, a) == 99.0
    assert psnr(a, a + 0.2) == pytest.approx(10 * np.log10(4 / 0.04))


# ---- `tfgen train-vae` through the CLI ----

def write_image_folder(folder, n: int = 6, size: int = 16) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, arr in enumerate(blob_images(n, size=size)):
        Image.fromarray(arr).save(folder / f"img-{i}.png")


def run_cli(*args: str):
    from typer.testing import CliRunner

    from tfgen.cli import app

    return CliRunner().invoke(app, ["train-vae", *map(str, args)])


TINY_FLAGS = ("--steps", "3", "--batch-size", "4", "--downsample", "2", "--latent-channels", "4",
              "--base-channels", "8", "--threads", "1")


def test_cli_trains_on_an_image_folder(tmp_path):
    from tfgen.train.checkpoint import load_vae_dir

    write_image_folder(tmp_path / "imgs")
    result = run_cli(tmp_path / "imgs", "--out", tmp_path / "vae", "--image-size", "16", *TINY_FLAGS)
    assert result.exit_code == 0, result.output
    assert "held-out PSNR" in result.output and "latent scale factor" in result.output
    bundle = load_vae_dir(tmp_path / "vae")
    assert bundle.image_size == 16 and bundle.vae.cfg.downsample == 2 and bundle.info["train_images"] == 5
    # Continuing from it keeps its shape and size.
    again = run_cli(tmp_path / "imgs", "--out", tmp_path / "vae2", "--init", tmp_path / "vae", "--steps", "1", "--threads", "1")
    assert again.exit_code == 0, again.output
    assert load_vae_dir(tmp_path / "vae2").vae.cfg == bundle.vae.cfg


def test_cli_trains_on_a_dataset_at_its_image_size(tmp_path):
    from tfgen.document import Document, ImageSegment, TextSegment
    from tfgen.train.checkpoint import load_vae_dir
    from tfgen.train.dataset import write_dataset

    docs = [Document([ImageSegment.from_pil(Image.fromarray(a)), TextSegment("x")]) for a in blob_images(4, size=8)]
    write_dataset(tmp_path / "ds", docs, image_size=8)
    result = run_cli(tmp_path / "ds", "--out", tmp_path / "vae", *TINY_FLAGS)
    assert result.exit_code == 0, result.output
    assert load_vae_dir(tmp_path / "vae").image_size == 8


def test_cli_bad_input_is_one_line(tmp_path):
    result = run_cli(tmp_path / "missing", "--out", tmp_path / "vae", *TINY_FLAGS)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("error:") and "no such folder" in result.output
    write_image_folder(tmp_path / "one", n=1)
    result = run_cli(tmp_path / "one", "--out", tmp_path / "vae", *TINY_FLAGS)
    assert result.exit_code == 1 and "at least 2" in result.output
    write_image_folder(tmp_path / "imgs", n=3)
    result = run_cli(tmp_path / "imgs", "--out", tmp_path / "vae", "--downsample", "3")
    assert result.exit_code == 1 and "vae.downsample" in result.output
    (tmp_path / "imgs" / "bad.png").write_bytes(b"not a png")
    result = run_cli(tmp_path / "imgs", "--out", tmp_path / "vae", *TINY_FLAGS)
    assert result.exit_code == 1 and "bad.png" in result.output
    assert not (tmp_path / "vae").exists()


def test_cli_crop_size_and_dtype_reach_the_trainer(tmp_path):
    import json

    write_image_folder(tmp_path / "imgs")
    result = run_cli(tmp_path / "imgs", "--out", tmp_path / "vae", "--image-size", "16", "--crop-size", "8",
                     "--dtype", "fp32", *TINY_FLAGS)
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "vae" / "vae.json").read_text())
    assert recorded["crop_size"] == 8 and recorded["dtype"] == "float32"
    bad = run_cli(tmp_path / "imgs", "--out", tmp_path / "vae2", "--dtype", "fp16", *TINY_FLAGS)
    assert bad.exit_code == 1 and "fp16" in bad.output and not (tmp_path / "vae2").exists()
