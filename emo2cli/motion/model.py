"""MotionDiT: the Stage 1 audio → hands diffusion transformer (DESIGN §3).

A DiT over motion frames. Input ``[B, C + N, 134]``: C clean context frames (the previous
window's last frames, or a rest pose) followed by N noisy frames of the 134-vector
(``emo2cli.hands.vector``), normalised by the statistics recorded in the config. Output: the
model's estimate of the clean sequence x0 (``prediction_type="sample"``; why in
``emo2cli.motion.pipeline``), same shape.

Conditioning:
- timestep through AdaLN-single (PixArt-α §2.3, diffusers ``AdaLayerNormSingle``): one shared MLP
  maps the conditioning vector to six modulation vectors, and each block adds its own learned
  ``scale_shift_table`` [6, D];
- style id, speed (variance of wrist translation over the window, cm², log1p-embedded) and the
  offset (each hand's body-relative rest wrist position, metres) are embedded and added to the
  timestep embedding before that shared MLP;
- a per-frame embedding of (left mask, right mask, is-context) is added to every motion token;
- audio features [B, C + N + A, D_audio] (one row per frame: the motion's frames plus A =
  ``audio_lookahead`` frames after the window) enter by cross-attention in every block,
  restricted to ``audio_attention_radius`` frames either side (a band mask: a gesture answers the
  speech around it). The lookahead gives the window's last frames the future audio their
  neighbours in the next window will hear, so they are as well informed as the frames inside a
  window (without it the last frames lag and a seam shows); a learned null token replaces the
  audio for classifier-free guidance.

Audio keys/values do not depend on the timestep, so :meth:`MotionDiT.encode_audio` computes them
once per window and the sampler passes them to every step (``audio_kv``).

References:
- W. Peebles, S. Xie, "Scalable Diffusion Models with Transformers" (DiT), facebookresearch/DiT
  models.py@ed81ce2229091fd4ecc9a223645f95cf379d582b: ``modulate``, block layout, zero init.
- J. Chen et al., "PixArt-α" (adaLN-single), diffusers ``AdaLayerNormSingle`` and
  ``PixArtTransformer2DModel`` (per-block ``scale_shift_table``, final-layer table).
- EMO2: end-effector guided audio-driven avatar video generation (Stage 1 layout: 24 blocks,
  hidden 512, 8 heads, N = 300, C = 12).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import get_1d_sincos_pos_embed_from_grid
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.normalization import AdaLayerNormSingle
from torch import nn

MOTION_DIM = 134  # emo2cli.hands.vector.VECTOR_DIM (kept literal: the model file imports no numpy helpers)
DEFAULT_STYLES = ("talk", "lecture", "sing")


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """AdaLN modulation: x [B, L, D], shift/scale [B, 1, D]."""
    return x * (1 + scale) + shift


def frame_positions(num_frames: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Fixed sinusoidal temporal position encoding [L, D] (frame index 0 = first context frame)."""
    pos = torch.arange(num_frames, device=device, dtype=torch.float64)
    return get_1d_sincos_pos_embed_from_grid(dim, pos, output_type="pt", dtype=torch.float64).to(dtype)


#################################################################################
#                                Attention                                      #
#################################################################################


class MotionDiTAttention(nn.Module):
    """Multi-head attention on ``F.scaled_dot_product_attention``; keys/values can be precomputed."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # [B, L, D] -> [B, H, L, D/H]
        b, n, d = x.shape
        return x.view(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)

    def key_value(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """context [B, S, D] → (k, v), each [B, H, S, D/H]."""
        return self._heads(self.to_k(context)), self._heads(self.to_v(context))

    def forward(self, x: torch.Tensor, kv: tuple[torch.Tensor, torch.Tensor] | None = None, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self._heads(self.to_q(x))  # [B, H, L, D/H]
        k, v = self.key_value(x) if kv is None else kv  # self-attention when no keys/values are given
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # [B, H, L, D/H]
        return self.to_out(out.transpose(1, 2).flatten(2))  # [B, L, D]


#################################################################################
#                                 DiT block                                     #
#################################################################################


class MotionDiTBlock(nn.Module):
    """Self-attention over frames, cross-attention to audio, MLP; AdaLN-single modulation."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn1 = MotionDiTAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)  # cross-attention is not modulated (PixArt)
        self.attn2 = MotionDiTAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim**0.5)

    def forward(self, x: torch.Tensor, mod: torch.Tensor, audio_kv: tuple[torch.Tensor, torch.Tensor], audio_mask: torch.Tensor | None) -> torch.Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (self.scale_shift_table[None] + mod).chunk(6, dim=1)
        x = x + gate_msa * self.attn1(modulate(self.norm1(x), shift_msa, scale_msa))  # [B, L, D]
        x = x + self.attn2(self.norm2(x), kv=audio_kv, attn_mask=audio_mask)  # [B, L, D]
        return x + gate_mlp * self.mlp(modulate(self.norm3(x), shift_mlp, scale_mlp))  # [B, L, D]


#################################################################################
#                                 The model                                     #
#################################################################################


class MotionDiT(ModelMixin, ConfigMixin):
    """Audio-conditioned motion diffusion transformer over the 134-vector.

    Args:
        motion_dim: values per frame (134: two hands × (16 quaternions + wrist position)).
        audio_dim: width of the audio features the checkpoint is trained on.
        hidden_size, depth, num_heads, mlp_ratio: transformer shape (paper: 512, 24, 8, 4).
        window: N, frames generated per window in training (the sampler's default).
        context: C, clean context frames prepended to each window.
        audio_attention_radius: motion frame t attends to audio frames [t - r, t + r]; -1 = all.
        audio_lookahead: A, audio frames after the window's last motion frame the model reads.
        style_names: named styles, in embedding order.
        style_speeds: typical speed (cm²) per style name, used when the user sets none.
        audio_encoder, audio_encoder_revision, fps: what the features were made with; features
            of another encoder, width or frame rate are refused (``emo2cli.motion.generate``).
        motion_mean, motion_std: [134] normalisation of the 134-vector (None = 0 and 1).
        audio_mean, audio_std: [audio_dim] normalisation of the features (None = 0 and 1).
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(
        self,
        motion_dim: int = MOTION_DIM,
        audio_dim: int = 768,
        hidden_size: int = 512,
        depth: int = 24,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        window: int = 300,
        context: int = 12,
        audio_attention_radius: int = 12,
        audio_lookahead: int = 12,
        style_names: tuple[str, ...] = DEFAULT_STYLES,
        style_speeds: dict | None = None,
        audio_encoder: str = "wav2vec2",
        audio_encoder_revision: str = "",
        fps: float = 25.0,
        motion_mean: list[float] | None = None,
        motion_std: list[float] | None = None,
        audio_mean: list[float] | None = None,
        audio_std: list[float] | None = None,
    ):
        super().__init__()
        if hidden_size % num_heads or (hidden_size // num_heads) % 2:
            raise ValueError(f"hidden_size {hidden_size} must split into {num_heads} heads of even width")
        self.register_buffer("motion_mean_t", _stat(motion_mean, motion_dim, 0.0), persistent=False)
        self.register_buffer("motion_std_t", _stat(motion_std, motion_dim, 1.0), persistent=False)
        self.register_buffer("audio_mean_t", _stat(audio_mean, audio_dim, 0.0), persistent=False)
        self.register_buffer("audio_std_t", _stat(audio_std, audio_dim, 1.0), persistent=False)

        self.x_embed = nn.Linear(motion_dim, hidden_size)
        self.frame_embed = nn.Embedding(8, hidden_size)  # index = mask_left + 2 mask_right + 4 is_context
        self.audio_embed = nn.Sequential(
            nn.Linear(audio_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size), nn.LayerNorm(hidden_size, eps=1e-6)
        )
        self.null_audio = nn.Parameter(torch.zeros(hidden_size))  # learned "no audio" token for CFG
        self.adaln_single = AdaLayerNormSingle(hidden_size)  # timestep MLP + shared linear → 6 D
        self.style_embed = nn.Embedding(len(style_names), hidden_size)
        self.speed_embed = nn.Sequential(nn.Linear(1, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))
        self.offset_embed = nn.Sequential(nn.Linear(6, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size))
        self.blocks = nn.ModuleList([MotionDiTBlock(hidden_size, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm_out = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.final_table = nn.Parameter(torch.randn(2, hidden_size) / hidden_size**0.5)
        self.final_linear = nn.Linear(hidden_size, motion_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        # Every Linear: xavier-uniform weights, zero bias (DiT).
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        # Embedding tables and the timestep MLP: N(0, 0.02) (DiT).
        for table in (self.frame_embed.weight, self.style_embed.weight, self.null_audio):
            nn.init.normal_(table, std=0.02)
        ts = self.adaln_single.emb.timestep_embedder
        nn.init.normal_(ts.linear_1.weight, std=0.02)
        nn.init.normal_(ts.linear_2.weight, std=0.02)
        # Zero: the shared modulation linear, so at init the modulation is each block's table alone ...
        nn.init.zeros_(self.adaln_single.linear.weight)
        nn.init.zeros_(self.adaln_single.linear.bias)
        # ... and the gates in those tables (rows 2 and 5), so every block starts as the identity (DiT's adaLN-Zero).
        for block in self.blocks:
            with torch.no_grad():
                block.scale_shift_table[2].zero_()
                block.scale_shift_table[5].zero_()
            # Zero: the cross-attention output, so at init audio and the null token give the same
            # output (CFG is a no-op until the audio path has learned something).
            nn.init.zeros_(block.attn2.to_out.weight)
        # Zero: the final projection, so the untrained model predicts x0 = 0 = the dataset mean.
        nn.init.zeros_(self.final_linear.weight)

    # ------------------------------------------------------------------ normalisation

    def normalize_motion(self, vector: torch.Tensor) -> torch.Tensor:
        """[..., 134] 134-vector (quaternions, metres) → model space."""
        return (vector - self.motion_mean_t.to(vector)) / self.motion_std_t.to(vector)

    def denormalize_motion(self, x: torch.Tensor) -> torch.Tensor:
        """[..., 134] model space → 134-vector (quaternions unnormalised, metres)."""
        return x * self.motion_std_t.to(x) + self.motion_mean_t.to(x)

    def style_index(self, style: str) -> int:
        """Embedding row of a style name; raises ValueError naming the known styles."""
        names = list(self.config.style_names)
        if style not in names:
            raise ValueError(f"unknown style '{style}'; this checkpoint knows: {', '.join(names)}")
        return names.index(style)

    def typical_speed(self, style: str) -> float:
        """The style's median training speed (cm²), or the median over styles, or 1.0."""
        speeds = self.config.style_speeds or {}
        if style in speeds:
            return float(speeds[style])
        return float(sorted(speeds.values())[len(speeds) // 2]) if speeds else 1.0

    # ------------------------------------------------------------------ forward

    def audio_mask(self, num_frames: int, num_audio: int, device: torch.device) -> torch.Tensor | None:
        """[L, L_audio] bool band (True = attend) of ``audio_attention_radius`` frames, or None for all."""
        radius = self.config.audio_attention_radius
        if radius < 0 or radius >= max(num_frames, num_audio):
            return None
        return (torch.arange(num_frames, device=device)[:, None] - torch.arange(num_audio, device=device)[None, :]).abs() <= radius

    def encode_audio(self, audio: torch.Tensor, drop_audio: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-block cross-attention keys/values, reused for every denoising step of a window.

        Args:
            audio: [B, L + A, audio_dim] raw features of the window's frames (context frames and
                lookahead included; row 0 = the first context frame).
            drop_audio: [B] bool, True where the learned null token replaces the audio (CFG).

        Returns:
            depth × (k, v), each [B, heads, L + A, hidden / heads].
        """
        b, n, _ = audio.shape
        dtype = self.x_embed.weight.dtype
        tokens = self.audio_embed(((audio - self.audio_mean_t) / self.audio_std_t).to(dtype))  # [B, L + A, D]
        if drop_audio is not None:
            tokens = torch.where(drop_audio.view(b, 1, 1), self.null_audio.to(tokens.dtype).expand_as(tokens), tokens)
        tokens = tokens + frame_positions(n, tokens.shape[-1], audio.device, tokens.dtype)[None]  # [B, L + A, D]
        return [block.attn2.key_value(tokens) for block in self.blocks]

    def condition(self, timestep: torch.Tensor, style: torch.Tensor, speed: torch.Tensor, offset: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Timestep + style + speed + offset embeddings → c [B, D]."""
        b = style.shape[0]
        timestep = timestep.reshape(-1).expand(b) if timestep.numel() == 1 else timestep.reshape(b)
        c = self.adaln_single.emb(timestep, resolution=None, aspect_ratio=None, batch_size=b, hidden_dtype=dtype)  # [B, D]
        c = c + self.style_embed(style)  # [B, D]
        c = c + self.speed_embed(torch.log1p(speed.clamp(min=0)).to(dtype)[:, None])  # [B, D]
        return c + self.offset_embed(offset.reshape(b, 6).to(dtype) * 10.0)  # decimetres: O(1) inputs

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        style: torch.Tensor,
        speed: torch.Tensor,
        offset: torch.Tensor,
        num_context: int,
        audio: torch.Tensor | None = None,
        audio_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
        drop_audio: torch.Tensor | None = None,
        hand_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the clean sequence.

        Args:
            sample: [B, L, 134] model-space motion; frames [:num_context] are clean context.
            timestep: [B] or scalar diffusion step in [0, 1000).
            style: [B] int64 style index; speed: [B] float cm²; offset: [B, 2, 3] metres.
            num_context: C.
            audio: [B, L + A, audio_dim] raw features from the first context frame on (ignored
                when ``audio_kv`` is given; any length ≥ L works, A = ``audio_lookahead`` in training).
            audio_kv: the output of :meth:`encode_audio` for this window.
            drop_audio: [B] bool, use the null audio token (only with ``audio``).
            hand_mask: [B, L, 2] bool valid-hand frames (None = all valid).

        Returns:
            [B, L, 134] predicted x0 in model space (the context rows are not trained).
        """
        b, n, _ = sample.shape
        dtype = self.x_embed.weight.dtype
        if audio_kv is None:
            if audio is None:
                raise ValueError("MotionDiT needs audio or audio_kv")
            audio_kv = self.encode_audio(audio, drop_audio)
        is_context = (torch.arange(n, device=sample.device) < num_context).long()  # [L]
        mask = torch.ones(b, n, 2, dtype=torch.long, device=sample.device) if hand_mask is None else hand_mask.long()
        code = mask[..., 0] + 2 * mask[..., 1] + 4 * is_context[None]  # [B, L]
        x = self.x_embed(sample.to(dtype)) + self.frame_embed(code)  # [B, L, D]
        x = x + frame_positions(n, x.shape[-1], x.device, x.dtype)[None]  # [B, L, D]
        c = self.condition(timestep, style, speed, offset, x.dtype)  # [B, D]
        mod = self.adaln_single.linear(self.adaln_single.silu(c)).view(b, 6, -1)  # [B, 6, D]
        attn_mask = self.audio_mask(n, audio_kv[0][0].shape[2], x.device)
        for block, kv in zip(self.blocks, audio_kv):
            x = block(x, mod, kv, attn_mask)  # [B, L, D]
        shift, scale = (self.final_table[None] + c[:, None]).chunk(2, dim=1)  # [B, 1, D] each
        return self.final_linear(modulate(self.norm_out(x), shift, scale))  # [B, L, 134]


def _stat(values: list[float] | None, dim: int, default: float) -> torch.Tensor:
    if values is None:
        return torch.full((dim,), default, dtype=torch.float32)
    if len(values) != dim:
        raise ValueError(f"normalisation statistics have {len(values)} values, expected {dim}")
    return torch.tensor(values, dtype=torch.float32)


#################################################################################
#                              MotionDiT configs                                #
#################################################################################


def MotionDiT_tiny(**kwargs) -> MotionDiT:  # tests only (minGPT's gpt-nano)
    kwargs = {"audio_dim": 16, "window": 8, "context": 2, "audio_attention_radius": 2, "audio_lookahead": 2, **kwargs}
    return MotionDiT(hidden_size=32, depth=2, num_heads=2, **kwargs)


def MotionDiT_S(**kwargs) -> MotionDiT:
    return MotionDiT(hidden_size=256, depth=8, num_heads=4, **kwargs)


def MotionDiT_B(**kwargs) -> MotionDiT:
    return MotionDiT(hidden_size=384, depth=12, num_heads=6, **kwargs)


def MotionDiT_L(**kwargs) -> MotionDiT:  # the paper's size: 24 blocks, hidden 512, 8 heads
    return MotionDiT(hidden_size=512, depth=24, num_heads=8, **kwargs)


MotionDiT_models = {"tiny": MotionDiT_tiny, "S": MotionDiT_S, "B": MotionDiT_B, "L": MotionDiT_L}


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MotionDiT", "MotionDiTBlock", "MotionDiT_models", "modulate"]
