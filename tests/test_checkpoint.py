"""Checkpoint directories, VAE directories and training state: round trips and every kind of bad file."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest
import torch

from tfgen.errors import TfgenError
from tfgen.model.config import ModelConfig
from tfgen.model.tokenizer import train_tokenizer
from tfgen.model.transfusion import Transfusion
from tfgen.model.vae import VAE, VAEConfig
from tfgen.train.checkpoint import (
    CheckpointError,
    VAEBundle,
    load_checkpoint,
    load_train_state,
    load_vae_dir,
    save_checkpoint,
    save_train_state,
    save_vae_dir,
)

torch.set_num_threads(1)
VAE_CFG = VAEConfig(latent_channels=4, base_channels=8, channel_multipliers=(1, 2))


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["a fox finds a lantern", "the owl sees the moon"] * 5, vocab_size=300)


def make_bundle(cfg: VAEConfig = VAE_CFG, seed: int = 0) -> VAEBundle:
    torch.manual_seed(seed)
    return VAEBundle(VAE(cfg), scale_factor=0.75, image_size=16, info={"psnr_heldout_db": 21.5})


def model_config(vocab_size: int, d_model: int = 16) -> ModelConfig:
    """A tiny model whose latents (4, 8, 8) are those of VAE_CFG on 16 px images."""
    return ModelConfig(vocab_size=vocab_size, d_model=d_model, n_layers=1, n_heads=2, latent_channels=4,
                       latent_size=8, patch_size=2, unet_channels=8, max_seq_len=64)


def model_state(vocab_size: int, seed: int = 0, d_model: int = 16) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = Transfusion(model_config(vocab_size, d_model)).state_dict()
    state["tok_embed.weight"] = state["tok_embed.weight"].bfloat16()  # dtypes are kept as written
    return state


@pytest.fixture
def ckpt(tmp_path, tokenizer):
    v = tokenizer.vocab_size
    config = {"model": model_config(v).to_dict(), "objective": "ddpm", "sampler": {"name": "ddim", "steps": 20, "cfg": 3.0}}
    return save_checkpoint(tmp_path / "ckpt", config, model_state(v), make_bundle(), tokenizer, "# Model card\n")


def refingerprint(ckpt, name: str) -> None:
    """Record `name`'s current bytes in config.json, as if it had been written that way."""
    config = json.loads((ckpt / "config.json").read_text())
    data = (ckpt / name).read_bytes()
    config["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (ckpt / "config.json").write_text(json.dumps(config))


def test_round_trip(ckpt, tokenizer):
    loaded = load_checkpoint(ckpt)
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "MODEL_CARD.md", "config.json", "model.safetensors", "tokenizer.json", "vae.safetensors"]
    for name, tensor in model_state(tokenizer.vocab_size).items():
        assert loaded.model_state[name].dtype == tensor.dtype and torch.equal(loaded.model_state[name], tensor)
    reference = make_bundle().vae.state_dict()
    assert all(torch.equal(loaded.vae.vae.state_dict()[k], v) for k, v in reference.items())
    assert loaded.vae.scale_factor == 0.75 and loaded.vae.image_size == 16
    assert loaded.vae.info["psnr_heldout_db"] == 21.5
    assert loaded.tokenizer.encode("a fox") == tokenizer.encode("a fox")
    assert loaded.config["sampler"] == {"name": "ddim", "steps": 20, "cfg": 3.0}
    assert loaded.config["vae"]["config"] == VAE_CFG.to_dict()
    assert loaded.model_card == "# Model card\n"


def test_saving_again_replaces_the_directory(ckpt, tokenizer):
    (ckpt / "stray.txt").write_text("old")
    v = tokenizer.vocab_size
    save_checkpoint(ckpt, {"model": model_config(v).to_dict()}, model_state(v, seed=1), make_bundle(), tokenizer, "new")
    assert not (ckpt / "stray.txt").exists()
    assert torch.equal(load_checkpoint(ckpt).model_state["patch_pos"], model_state(v, seed=1)["patch_pos"])


def test_truncated_file_is_named(ckpt):
    path = ckpt / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated") as info:
        load_checkpoint(ckpt)
    assert info.value.where == str(path)


def test_flipped_byte_is_damage(ckpt):
    path = ckpt / "vae.safetensors"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged") as info:
        load_checkpoint(ckpt)
    assert info.value.where == str(path)


def test_missing_and_malformed_files(ckpt, tmp_path):
    (ckpt / "tokenizer.json").unlink()
    with pytest.raises(CheckpointError, match="missing") as info:
        load_checkpoint(ckpt)
    assert info.value.where.endswith("tokenizer.json")
    (ckpt / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="malformed JSON") as info:
        load_checkpoint(ckpt)
    assert info.value.where.endswith("config.json")
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load_checkpoint(tmp_path / "nowhere")


def test_invalid_safetensors_with_matching_checksum(ckpt):
    (ckpt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    refingerprint(ckpt, "model.safetensors")
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as info:
        load_checkpoint(ckpt)
    assert info.value.where.endswith("model.safetensors")


def test_vae_weights_of_another_shape_are_a_mismatch(ckpt, tmp_path, tokenizer):
    other = save_checkpoint(tmp_path / "other", {"model": model_config(tokenizer.vocab_size).to_dict()},
                            model_state(tokenizer.vocab_size), make_bundle(VAEConfig(
                                latent_channels=4, base_channels=16, channel_multipliers=(1, 2))), tokenizer, "")
    (ckpt / "vae.safetensors").write_bytes((other / "vae.safetensors").read_bytes())
    refingerprint(ckpt, "vae.safetensors")
    with pytest.raises(CheckpointError, match="has shape .* the config needs") as info:
        load_checkpoint(ckpt)
    assert info.value.where.endswith("vae.safetensors")


def test_tokenizer_of_another_size_is_a_mismatch(ckpt):
    other = train_tokenizer(["something else entirely, quite different words"] * 5, vocab_size=280)
    (ckpt / "tokenizer.json").write_text(other.to_json())
    refingerprint(ckpt, "tokenizer.json")
    with pytest.raises(CheckpointError, match="config.json says") as info:
        load_checkpoint(ckpt)
    assert info.value.where.endswith("tokenizer.json")


def test_model_weights_of_another_shape_are_a_mismatch(ckpt, tokenizer):
    other = model_state(tokenizer.vocab_size, d_model=32)
    import safetensors.torch

    (ckpt / "model.safetensors").write_bytes(safetensors.torch.save(other))
    refingerprint(ckpt, "model.safetensors")
    with pytest.raises(CheckpointError, match="has shape .* the config needs") as info:
        load_checkpoint(ckpt)
    assert info.value.where.endswith("model.safetensors")
    (ckpt / "model.safetensors").write_bytes(safetensors.torch.save({"tok_embed.weight": torch.zeros(3)}))
    refingerprint(ckpt, "model.safetensors")
    with pytest.raises(CheckpointError, match="is missing"):
        load_checkpoint(ckpt)


def test_model_section_that_does_not_fit_its_vae(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    config["model"]["latent_size"] = 4
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="the VAE makes latents") as info:
        load_checkpoint(ckpt)
    assert info.value.where.endswith("config.json")
    config["model"]["depth"] = 3
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(TfgenError, match="unknown key") as info:
        load_checkpoint(ckpt)
    assert "config.json" in info.value.where and "depth" in info.value.where


def test_bad_vae_section_is_named(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    config["vae"]["config"]["latent_chanels"] = 4
    (ckpt / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="unknown key 'latent_chanels'") as info:
        load_checkpoint(ckpt)
    assert "config.json" in info.value.where


def test_vae_dir_round_trip_and_from_checkpoint(tmp_path, ckpt):
    bundle = make_bundle(seed=5)
    save_vae_dir(tmp_path / "vae", bundle)
    back = load_vae_dir(tmp_path / "vae")
    assert back.scale_factor == 0.75 and back.info["psnr_heldout_db"] == 21.5
    assert all(torch.equal(back.vae.state_dict()[k], v) for k, v in bundle.vae.state_dict().items())
    assert load_vae_dir(ckpt).vae.cfg == VAE_CFG
    (tmp_path / "vae" / "vae.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated"):
        load_vae_dir(tmp_path / "vae")


def test_train_state_round_trip_keeps_types(tmp_path):
    state = {
        "step": 7, "lr": 0.1 + 0.2, "name": "run", "done": False, "nothing": None,
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.default_rng(3).bit_generator.state,
                "python": random.Random(4).getstate()},
        "by_index": {0: torch.arange(3), 1: {"__odd": 1}},
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "pair": (1, [2.5, torch.tensor(True)]),
    }
    save_train_state(tmp_path, state)
    back = load_train_state(tmp_path)
    assert back["step"] == 7 and back["lr"] == 0.1 + 0.2 and back["done"] is False and back["nothing"] is None
    assert torch.equal(back["rng"]["torch"], state["rng"]["torch"])
    assert back["rng"]["numpy"] == state["rng"]["numpy"]
    assert back["rng"]["python"] == state["rng"]["python"]
    assert set(back["by_index"]) == {0, 1} and back["by_index"][1] == {"__odd": 1}
    assert back["array"].dtype == np.int16 and np.array_equal(back["array"], state["array"])
    assert isinstance(back["pair"], tuple) and back["pair"][1][1].dtype == torch.bool


def test_resume_from_train_state_is_bitwise_exact(tmp_path):
    def fresh():
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        return model, torch.optim.AdamW(model.parameters(), lr=0.01)

    def steps(model, opt, n, gen):
        for _ in range(n):
            loss = model(torch.randn(8, 4, generator=gen)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    model, opt = fresh()
    gen = torch.Generator().manual_seed(1)
    steps(model, opt, 4, gen)
    straight = {k: v.clone() for k, v in model.state_dict().items()}

    model, opt = fresh()
    gen = torch.Generator().manual_seed(1)
    steps(model, opt, 2, gen)
    save_train_state(tmp_path, {"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state()})
    del model, opt, gen
    state = load_train_state(tmp_path)
    model, opt = fresh()
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    gen = torch.Generator()
    gen.set_state(state["gen"])
    steps(model, opt, 2, gen)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in straight.items())


def test_damaged_train_state_is_named(tmp_path):
    save_train_state(tmp_path, {"w": torch.ones(3)})
    path = tmp_path / "train_state.safetensors"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="truncated") as info:
        load_train_state(tmp_path)
    assert info.value.where == str(path)
    with pytest.raises(CheckpointError, match="missing"):
        load_train_state(tmp_path / "elsewhere")
