"""Training: datasets, packing, latents, checkpoints, the trainer."""
