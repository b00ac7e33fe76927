"""A tiny random-init checkpoint for sampler, CLI and batch tests (built once per test session).

Random weights are enough: the tests check the sampler's mechanics (cache == naive, seeds,
limits, structure), not picture quality. Sizes are minimal so a whole document takes well under
a second on one core.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tfgen.model.config import ModelConfig
from tfgen.model.tokenizer import train_tokenizer
from tfgen.model.transfusion import Transfusion
from tfgen.model.vae import VAE, VAEConfig
from tfgen.train.checkpoint import VAEBundle, save_checkpoint

CORPUS = ["# The fox and the lantern\n\n## Panel 1\n\nA fox finds a lantern in the forest.",
          "## Slide 2\n\n- the owl sees the moon\n\nOwl: \"Hello fox\"", "a red kite over the hill"]


def build_tiny_checkpoint(directory: Path, objective: str = "ddpm", cross_image: str = "blocked",
                          seed: int = 0, sampler: dict | None = None) -> Path:
    """Write a random-init checkpoint: d_model 32, 2 layers, 4x4x4 latents in 2x2 patches (4 patches)."""
    tokenizer = train_tokenizer(CORPUS * 4, vocab_size=300)
    cfg = ModelConfig(vocab_size=tokenizer.vocab_size, d_model=32, n_layers=2, n_heads=2, latent_channels=4,
                      latent_size=4, patch_size=2, max_seq_len=256, objective=objective, cross_image=cross_image,
                      num_train_timesteps=100, noise_limit_t=50)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Transfusion(cfg)
        vae = VAE(VAEConfig(latent_channels=4, base_channels=8, channel_multipliers=(1, 2)))
    bundle = VAEBundle(vae, scale_factor=1.0, image_size=8, info={})
    config = {
        "model": cfg.to_dict(), "objective": objective,
        "training": {"data": "tiny test corpus", "steps_done": 0},
        "vocabulary": {"things": ["fox", "lantern", "forest", "owl", "moon", "kite", "hill"]},
        "sampler": sampler or {"name": "ddim" if objective == "ddpm" else "heun", "steps": 4, "guidance": 3.0},
    }
    card = "# tiny test model\n\n- Trained on: nothing (random weights, for tests).\n"
    return save_checkpoint(directory, config, model.state_dict(), bundle, tokenizer, card)


class FixedHead(nn.Module):
    """An LM head that ranks tokens in a fixed order (first = likeliest), whatever the hidden state."""

    def __init__(self, vocab: int, order: list[int]):
        super().__init__()
        scores = torch.zeros(vocab)
        for rank, token in enumerate(order):
            scores[token] = 100.0 - rank
        self.register_buffer("scores", scores)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.scores.expand(*hidden.shape[:-1], -1)
