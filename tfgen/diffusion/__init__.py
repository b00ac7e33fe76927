"""Noise schedules, training objectives and samplers (DDPM, DDIM, rectified-flow Euler/Heun)."""

from tfgen.diffusion.ddim import DDIMSampler
from tfgen.diffusion.ddpm import DDPMSampler
from tfgen.diffusion.flow import FlowEulerSampler, FlowHeunSampler
from tfgen.diffusion.schedules import CosineSchedule, trailing_timesteps

__all__ = ["CosineSchedule", "DDIMSampler", "DDPMSampler", "FlowEulerSampler", "FlowHeunSampler",
           "trailing_timesteps"]
