"""Audio conditioning of the denoiser: per-frame audio tokens and the decoupled audio cross-attention.

:class:`AudioProjection` holds every weight the UNet's cross-attention slot needs, so they save
apart from the UNet (as ``MotionAdapter`` does) and the base UNet stays a plain diffusers model:

- the **audio projection**: for video frame i, the feature rows of frames i-r..i+r (edge-clamped,
  r = ``window_radius``) each become one token (Linear → SiLU → Linear → LayerNorm, plus a learned
  embedding of the row's offset in the window): [F, 2r + 1, token_dim];
- the **learned null text context** [L, cross_attention_dim] that fills the UNet's text
  cross-attention (``attn2``): no text encoder is loaded at inference;
- one :class:`AudioCrossAttention` per spatial transformer block. Its processor
  (:class:`AudioAttnProcessor`) adds, to the block's ``attn2`` output, a cross-attention from the
  frame's tokens to that frame's audio tokens. Like IP-Adapter's decoupled cross-attention it
  reads ``attn2``'s input (the ``norm2`` output) and its output joins ``attn2``'s residual. Its
  output projection starts at zero, so a fresh layer leaves the base UNet unchanged.

``injection="attn2"`` (DESIGN §4.1, EchoMimicV2) instead feeds the windowed feature rows as the
UNet's own ``encoder_hidden_states`` (``cross_attention_dim`` = the feature width, e.g. 384 for
Whisper-tiny), with no projection, no audio layers and zero features for "no audio".

References: EMO (arXiv:2402.17485) audio layers; IP-Adapter (arXiv:2308.06721) decoupled
cross-attention; Hallo ``hallo/models/audio_proj.py`` (fudan-generative-vision/hallo@1002053).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from emo2cli.video.attention import Stage2AttnProcessor, spatial_attention_names

INJECTIONS = ("audio_attention", "attn2")


class AudioCrossAttention(nn.Module):
    """Cross-attention from one block's frame tokens [R, N, query_dim] to audio tokens [R, L, token_dim]."""

    def __init__(self, query_dim: int, token_dim: int):
        super().__init__()
        self.to_q = nn.Linear(query_dim, query_dim, bias=False)
        self.to_k = nn.Linear(token_dim, query_dim, bias=False)
        self.to_v = nn.Linear(token_dim, query_dim, bias=False)
        self.to_out = nn.Linear(query_dim, query_dim)

    def forward(self, hidden_states: torch.Tensor, tokens: torch.Tensor, heads: int) -> torch.Tensor:
        rows, length, dim = hidden_states.shape
        q = self.to_q(hidden_states).view(rows, length, heads, dim // heads).transpose(1, 2)
        k = self.to_k(tokens).view(rows, -1, heads, dim // heads).transpose(1, 2)
        v = self.to_v(tokens).view(rows, -1, heads, dim // heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(rows, length, dim)
        return self.to_out(out)


class AudioProjection(ModelMixin, ConfigMixin):
    """Audio features → per-frame tokens; the null text context; the per-block audio attention layers.

    Args:
        audio_dim: width of one feature row (D, or K·D for [T, K, D] token tables).
        window_radius: r, frames on each side of the current one (±2 → 5 tokens per frame).
        hidden_dim: projection MLP width.
        token_dim: audio token width (the audio layers' key/value input).
        cross_attention_dim: the UNet's text cross-attention width (null context width).
        null_context_tokens: L, length of the learned null text context.
        attention_dims: query width of each spatial ``attn2``, in ``unet.attn_processors`` order
            (:func:`audio_attention_dims`); empty for ``injection="attn2"``.
        injection: "audio_attention" (EMO2 audio layers) or "attn2" (features fed to ``attn2``).
        audio_encoder: the feature encoder these weights were trained on ("" = not recorded);
            features of another encoder are refused (``emo2cli.video.loading``).
    """

    @register_to_config
    def __init__(
        self,
        audio_dim: int = 768,
        window_radius: int = 2,
        hidden_dim: int = 512,
        token_dim: int = 768,
        cross_attention_dim: int = 768,
        null_context_tokens: int = 77,
        attention_dims: tuple[int, ...] = (),
        injection: str = "audio_attention",
        audio_encoder: str = "",
    ):
        super().__init__()
        if injection not in INJECTIONS:
            raise ValueError(f"injection must be one of {INJECTIONS}, got {injection!r}")
        self.null_context = nn.Parameter(torch.zeros(null_context_tokens, cross_attention_dim))
        if injection == "audio_attention":
            window = 2 * window_radius + 1
            self.window_embedding = nn.Parameter(torch.zeros(window, hidden_dim))
            self.proj_in = nn.Linear(audio_dim, hidden_dim)
            self.proj_out = nn.Linear(hidden_dim, token_dim)
            self.norm = nn.LayerNorm(token_dim)
            self.layers = nn.ModuleList([AudioCrossAttention(d, token_dim) for d in attention_dims])
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # Zero at start: each audio layer's output projection (a fresh layer is the identity on
        # the base UNet) and the null context (SD's text attention then sees one constant token).
        # The window embedding starts small so the MLP first sees the raw rows.
        nn.init.zeros_(self.null_context)
        if self.config.injection != "audio_attention":
            return
        nn.init.normal_(self.window_embedding, std=0.02)
        for layer in self.layers:
            nn.init.zeros_(layer.to_out.weight)
            nn.init.zeros_(layer.to_out.bias)

    @property
    def uses_audio_layers(self) -> bool:
        return self.config.injection == "audio_attention"

    def window_rows(self, features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """features [T, D] or [T, K, D], frames [F] int64 → [F, 2r + 1, D'] rows around each frame (edge-clamped)."""
        offsets = torch.arange(-self.config.window_radius, self.config.window_radius + 1, device=frames.device)
        index = (frames[:, None] + offsets[None]).clamp(0, features.shape[0] - 1)
        rows = features[index]  # [F, 2r + 1, D] or [F, 2r + 1, K, D]
        return rows.flatten(2) if self.config.injection == "audio_attention" else rows.flatten(1, 2)

    def forward(self, features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """Audio tokens for the given video frames.

        Args:
            features: [T, D] (or [T, K, D]) float, the whole feature table of the audio.
            frames: [F] int64 frame indices (may fall outside [0, T): clamped).

        Returns:
            [F, 2r + 1, token_dim] tokens (``audio_attention``) or [F, (2r + 1)·K, D] rows (``attn2``).
        """
        rows = self.window_rows(features.to(self.dtype), frames)
        if not self.uses_audio_layers:
            return rows
        hidden = F.silu(self.proj_in(rows) + self.window_embedding)
        return self.norm(self.proj_out(hidden))

    def null_text_context(self, rows: int) -> torch.Tensor:
        """[rows, L, cross_attention_dim] learned null context for the UNets' ``attn2``."""
        return self.null_context[None].expand(rows, -1, -1)


class AudioAttnProcessor(Stage2AttnProcessor):
    """Spatial ``attn2``: the usual cross-attention plus the audio cross-attention of its block.

    The layer is kept as a plain attribute (not a submodule of the UNet), so the UNet's
    checkpoint holds no audio weights; they live in :class:`AudioProjection`.
    """

    def __init__(self, layer: AudioCrossAttention):
        super().__init__()
        self.layer = layer

    def process(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb, features):
        out = self.attend(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        tokens = features["audio_tokens"]
        if tokens is None:
            return out
        if tokens.shape[0] != hidden_states.shape[0]:
            raise ValueError(f"audio tokens have {tokens.shape[0]} rows, the UNet batch has {hidden_states.shape[0]}")
        audio = self.layer(hidden_states, tokens.to(hidden_states.dtype), attn.heads)
        mask = features["audio_mask"]
        if mask is not None:
            audio = audio * mask.to(audio.dtype)[:, None, None]
        return out + audio


def audio_attention_dims(unet: nn.Module) -> tuple[int, ...]:
    """Query width of every spatial ``attn2`` of ``unet``, in processor order (for ``AudioProjection``)."""
    modules = dict(unet.named_modules())
    return tuple(int(modules[n].to_q.in_features) for n in spatial_attention_names(unet, "attn2"))


def audio_processors(unet: nn.Module, audio_proj: AudioProjection) -> dict[str, AudioAttnProcessor]:
    """One :class:`AudioAttnProcessor` per spatial ``attn2``, paired with ``audio_proj.layers`` by order.

    Raises:
        ValueError: the layer widths do not match the UNet's blocks.
    """
    if not audio_proj.uses_audio_layers:
        return {}
    names = spatial_attention_names(unet, "attn2")
    dims = audio_attention_dims(unet)
    if tuple(audio_proj.config.attention_dims) != dims:
        raise ValueError(f"audio layers were built for attn2 widths {tuple(audio_proj.config.attention_dims)}, the UNet has {dims}")
    return {n: AudioAttnProcessor(layer) for n, layer in zip(names, audio_proj.layers)}
