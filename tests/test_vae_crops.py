"""VAE training on random crops and in bf16: crop geometry, config checks, and that it still learns whole images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfgen.errors import TfgenError
from tfgen.model.vae import VAEConfig
from tfgen.train.vae_trainer import VAETrainConfig, random_crops, resolve_vae_dtype, train_vae

torch.set_num_threads(1)


def numbered_images(n: int, size: int) -> np.ndarray:
    """(n, size, size, 3) uint8 whose pixel (y, x) of image i holds (i, y, x): crops reveal their corner."""
    ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([np.stack([np.full_like(ys, i), ys, xs], axis=-1) for i in range(n)]).astype(np.uint8)


def test_crops_are_aligned_slices_of_their_own_image():
    images = numbered_images(6, 32)
    crops = random_crops(images, 16, 8, torch.Generator().manual_seed(0))
    assert crops.shape == (6, 16, 16, 3)
    corners = set()
    for i, crop in enumerate(crops):
        y, x = int(crop[0, 0, 1]), int(crop[0, 0, 2])
        assert (crop[..., 0] == i).all()  # taken from image i
        assert y % 8 == 0 and x % 8 == 0 and y + 16 <= 32 and x + 16 <= 32
        assert np.array_equal(crop, images[i, y : y + 16, x : x + 16])
        corners.add((y, x))
    assert len(corners) > 1  # not always the same place


def test_crops_follow_the_generator_and_whole_images_pass_through():
    images = numbered_images(4, 32)
    a = random_crops(images, 8, 4, torch.Generator().manual_seed(1))
    b = random_crops(images, 8, 4, torch.Generator().manual_seed(1))
    assert np.array_equal(a, b)
    assert random_crops(images, 32, 8, torch.Generator()) is images
    assert random_crops(images, 64, 8, torch.Generator()) is images


def test_train_size_and_config_checks():
    assert VAETrainConfig(image_size=128).train_size == 64
    assert VAETrainConfig(image_size=128, crop_size=0).train_size == 128
    assert VAETrainConfig(image_size=16).train_size == 16
    with pytest.raises(TfgenError, match="0 or more"):
        VAETrainConfig(crop_size=-1)
    with pytest.raises(TfgenError) as err:
        VAETrainConfig(dtype="fp16")
    assert err.value.where == "dtype"


def test_dtype_choice():
    cfg = VAEConfig(base_channels=8)
    assert resolve_vae_dtype("fp32", cfg) == torch.float32
    assert resolve_vae_dtype("bf16", cfg) == torch.bfloat16
    assert resolve_vae_dtype("auto", cfg) == torch.float32  # too narrow for bf16 to pay off


def test_crop_must_fit_the_latent_grid():
    images = numbered_images(4, 16)
    cfg = VAETrainConfig(steps=1, batch_size=2, image_size=16, crop_size=6, holdout=0.25)
    with pytest.raises(TfgenError) as err:
        train_vae(images, VAEConfig(latent_channels=4, base_channels=8, channel_multipliers=(1, 2, 4)), cfg)
    assert err.value.where == "crop_size"


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_training_on_crops_improves_whole_image_psnr(dtype):
    rng = np.random.default_rng(0)
    # Flat colour fields with a bar: what a crop of half the side still shows.
    images = np.repeat(rng.integers(0, 256, (10, 1, 1, 3)), 16, 1).repeat(16, 2).astype(np.uint8)
    images[:, 4:8, :, :] = rng.integers(0, 256, (10, 1, 1, 3))
    cfg = VAETrainConfig(steps=60, batch_size=8, lr=3e-3, image_size=16, crop_size=8, holdout=0.2, dtype=dtype)
    result = train_vae(images, VAEConfig(latent_channels=4, base_channels=8, channel_multipliers=(1, 2)), cfg)
    assert result.psnr_after > result.psnr_before + 1.5
    assert result.bundle.info["crop_size"] == 8 and result.bundle.info["dtype"] == {"fp32": "float32", "bf16": "bfloat16"}[dtype]
