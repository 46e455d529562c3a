"""Motion guidance: hand maps + a partial body map → a residual added after the denoiser's ``conv_in``.

The encoder is diffusers' ``ControlNetConditioningEmbedding`` (3×3 convs with SiLU, stride-2
downsampling to latent resolution, zero-initialised ``conv_out``), held under ``embedding``. The
default widths (16, 32, 96, 256) → 320 are exactly EchoMimicV2's pose encoder (DESIGN §4.1), so
its weights load by prefixing ``embedding.``; EMO2's own encoder reads one more channel, the
partial body map (``emo2cli.video.body``).

Inputs are [N, C, H, W] float in [0, 1]: channels 0-2 the RGB hand map, channel 3 (when
``body_map`` is true) the person mask minus the arms.

References: EMO2 (end-effector guided video generation), ControlNet (arXiv:2302.05543),
EchoMimicV2 ``src/models/pose_encoder.py`` (antgroup/echomimic_v2@a312dec).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.controlnets.controlnet import ControlNetConditioningEmbedding
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class MotionGuidanceEncoder(ModelMixin, ConfigMixin):
    """Hand maps (+ partial body map) → [N, out_channels, H / 2^(L-1), W / 2^(L-1)] residual.

    Args:
        out_channels: the denoiser's ``conv_in`` output channels (320 for SD-1.5).
        hand_channels: channels of the hand map (3, RGB).
        body_map: whether a 1-channel partial body map follows the hand map.
        block_out_channels: encoder widths; ``len - 1`` stride-2 convs, so it must equal the VAE's
            number of down-sampling levels + 1 (4 for SD's VAE: 8× down).

    The output conv starts at zero (ControlNet's zero convolution), so a freshly added encoder
    leaves the base UNet's output unchanged (tests check this).
    """

    @register_to_config
    def __init__(
        self,
        out_channels: int = 320,
        hand_channels: int = 3,
        body_map: bool = True,
        block_out_channels: tuple[int, ...] = (16, 32, 96, 256),
    ):
        super().__init__()
        self.embedding = ControlNetConditioningEmbedding(
            conditioning_embedding_channels=out_channels,
            conditioning_channels=hand_channels + int(body_map),
            block_out_channels=tuple(block_out_channels),
        )

    @property
    def in_channels(self) -> int:
        return self.config.hand_channels + int(self.config.body_map)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.config.block_out_channels) - 1)

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        """conditioning: [N, in_channels, H, W] in [0, 1] → [N, out_channels, H / f, W / f]."""
        return self.embedding(conditioning)


def guidance_input(hand_maps: np.ndarray, body_map: np.ndarray | None, body_channel: bool) -> torch.Tensor:
    """Frames on disk → the encoder's input.

    Args:
        hand_maps: [F, H, W, 3] uint8 RGB hand maps (black background).
        body_map: [H, W] float32 in [0, 1], or None (an empty channel is used).
        body_channel: whether the encoder reads a body channel.

    Returns:
        [F, 3 (+1), H, W] float32 in [0, 1].
    """
    maps = torch.from_numpy(np.ascontiguousarray(hand_maps)).permute(0, 3, 1, 2).float() / 255.0
    if not body_channel:
        return maps
    num_frames, _, height, width = maps.shape
    body = torch.zeros(num_frames, 1, height, width) if body_map is None else torch.from_numpy(body_map).float()[None, None].expand(num_frames, 1, height, width)
    return torch.cat([maps, body], dim=1)


class ConvInResidual:
    """Adds a residual to the output of ``unet.conv_in`` while :meth:`added` is active.

    This is the one place where Stage 2 reaches inside a diffusers UNet's forward, as a forward
    hook on ``conv_in``. Why a hook: ``UNetMotionModel.forward`` has no argument for an additive
    input after ``conv_in`` (``down_block_additional_residuals`` only feeds the skip
    connections), and a wrapper module around ``conv_in`` would rename its checkpoint keys. The
    hook is registered once; outside :meth:`added` it returns ``conv_in``'s output unchanged.
    """

    def __init__(self, unet: nn.Module):
        self.residual: torch.Tensor | None = None
        self._handle = unet.conv_in.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if self.residual is None:
            return output
        return output + self.residual.to(output.dtype)

    @contextlib.contextmanager
    def added(self, residual: torch.Tensor | None) -> Iterator[None]:
        """residual: [B·F, C, h, w] in the UNet's frame-major row order (UNetMotionModel flattens [B, C, F] → B·F)."""
        self.residual = residual
        try:
            yield
        finally:
            self.residual = None

    def remove(self) -> None:
        self._handle.remove()
