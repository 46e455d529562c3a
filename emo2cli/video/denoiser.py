"""The denoising UNet: ``UNetMotionModel.from_unet2d(unet2d, motion_adapter)`` plus two in-place options.

- :func:`extend_motion_positions`: AnimateDiff adapters are saved with 32 sinusoidal temporal
  positions; a clip of ``motion_frames + clip_frames`` (12 + 24 = 36 by default) needs more. The
  table is a fixed formula (diffusers ``SinusoidalPositionalEmbedding``), so longer tables agree on
  the first 32 rows; the UNet's config is updated so the saved UNet reloads with the same length.
- :func:`set_motion_norm`: diffusers' ``AnimateDiffTransformer3D`` group-normalises over
  (C, F, H, W) jointly; the original AnimateDiff (and EchoMimicV2's weights) normalise each frame
  on its own. :class:`FrameGroupNorm` is a ``GroupNorm`` with the same parameters and keys that
  does the latter; swapping the module (not its forward) is the one change (DESIGN §4.1).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
from diffusers.models.embeddings import SinusoidalPositionalEmbedding
from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D
from torch import nn

MOTION_NORMS = ("joint", "per_frame")


@contextlib.contextmanager
def quiet_dtype_warning() -> Iterator[None]:
    """diffusers 0.42 warns on every ``ModelMixin.to(dtype)`` that "modules should be kept in
    float32: []" (an empty list); this silences that one logger for the block."""
    noisy = logging.getLogger("diffusers.models.modeling_utils")
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        yield
    finally:
        noisy.setLevel(level)


def build_denoiser(unet2d: UNet2DConditionModel, motion_adapter: MotionAdapter, max_frames: int = 32) -> UNetMotionModel:
    """SD-1.5-class spatial UNet + AnimateDiff motion modules → the Stage 2 denoiser.

    Args:
        unet2d: spatial weights (its attention processors are not carried over).
        motion_adapter: temporal weights.
        max_frames: longest clip (motion frames + new frames) the UNet must take.
    """
    with quiet_dtype_warning():
        unet = UNetMotionModel.from_unet2d(unet2d, motion_adapter)
    extend_motion_positions(unet, max_frames)
    return unet


def extend_motion_positions(unet: UNetMotionModel, max_frames: int) -> None:
    """Make every temporal position table at least ``max_frames`` long (rows beyond the old length are new)."""
    if max_frames <= unet.config.motion_max_seq_length:
        return
    for module in unet.modules():
        if isinstance(module, SinusoidalPositionalEmbedding) and module.pe.shape[1] < max_frames:
            longer = SinusoidalPositionalEmbedding(module.pe.shape[2], max_frames).pe
            module.pe = longer.to(device=module.pe.device, dtype=module.pe.dtype)
    unet.register_to_config(motion_max_seq_length=max_frames)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm of each frame on its own: [B, C, F, H, W] is normalised as [(B·F), C, H, W]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5:
            return super().forward(x)
        b, c, f, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * f, c, h, w))
        return y.reshape(b, f, c, h, w).transpose(1, 2)


def set_motion_norm(unet: nn.Module, mode: str) -> None:
    """``mode``: "joint" (diffusers) or "per_frame" (original AnimateDiff); parameters are kept."""
    if mode not in MOTION_NORMS:
        raise ValueError(f"motion_norm must be one of {MOTION_NORMS}, got {mode!r}")
    cls = FrameGroupNorm if mode == "per_frame" else nn.GroupNorm
    for module in unet.modules():
        if isinstance(module, AnimateDiffTransformer3D) and type(module.norm) is not cls:
            old = module.norm
            new = cls(old.num_groups, old.num_channels, eps=old.eps, affine=old.affine)
            new.load_state_dict(old.state_dict())
            module.norm = new.to(device=old.weight.device, dtype=old.weight.dtype)
