"""ReferenceNet attention: the portrait's self-attention features read by the denoiser's self-attention.

The ReferenceNet is a plain ``UNet2DConditionModel`` (same spatial layout as the denoiser) run
once per video on the reference latent at t = 0. Its ``attn1`` processors *write* their input
(the ``norm1`` output of each transformer block) into a bank; the denoiser's ``attn1``
processors *read* the bank entry of the same module name and attend over
``cat([h, ref], dim=1)`` with the denoiser's own ``to_k``/``to_v`` (EchoMimicV2 / Animate Anyone
"spatial attention", DESIGN §4.1). Rows whose ``reference_mask`` is false (the unconditional CFG
half) do plain self-attention, as if no reference existed.

References: Animate Anyone (arXiv:2311.17117) §3.2; EchoMimicV2
``src/models/mutual_self_attention.py`` (antgroup/echomimic_v2@a312dec), ``fusion_blocks="full"``.
"""

from __future__ import annotations

import torch
from torch import nn

from emo2cli.video.attention import Stage2AttnProcessor, set_spatial_processors, spatial_attention_names


class ReferenceWriterAttnProcessor(Stage2AttnProcessor):
    """ReferenceNet ``attn1``: stores its input [B, N, C] under its module name, then attends as usual."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def process(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb, features):
        if features["reference_bank"] is not None:
            features["reference_bank"][self.name] = hidden_states
        return self.attend(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceReaderAttnProcessor(Stage2AttnProcessor):
    """Denoiser ``attn1``: self-attention whose keys/values also cover the reference tokens.

    ``reference_hidden_states[name]`` is [B, N, C] (one entry per video in the UNet batch); it is
    repeated over the F frames of each video. Without it, plain self-attention.
    """

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def process(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb, features):
        bank, mask = features["reference_hidden_states"], features["reference_mask"]
        ref = None if bank is None else bank.get(self.name)
        if ref is None:
            return self.attend(attn, hidden_states, None, attention_mask, temb)
        rows = hidden_states.shape[0]
        if rows % ref.shape[0]:
            raise ValueError(f"{self.name}: {rows} rows is not a multiple of {ref.shape[0]} reference entries")
        frames = rows // ref.shape[0]
        use = [True] * ref.shape[0] if mask is None else [bool(m) for m in (mask.tolist() if torch.is_tensor(mask) else mask)]
        # contiguous runs of entries with / without the reference (one run per CFG pass): slices, no host syncs
        out = []
        start = 0
        while start < len(use):
            stop = start + 1
            while stop < len(use) and use[stop] == use[start]:
                stop += 1
            h = hidden_states[start * frames : stop * frames]
            if use[start]:
                ref_rows = ref[start:stop].to(h.dtype).repeat_interleave(frames, dim=0)  # [rows, N, C]
                out.append(self.attend(attn, h, torch.cat([h, ref_rows], dim=1), attention_mask, temb))
            else:
                out.append(self.attend(attn, h, None, attention_mask, temb))
            start = stop
        return out[0] if len(out) == 1 else torch.cat(out)


def set_reference_writers(reference_net: nn.Module) -> list[str]:
    """Install writers on every ``attn1`` of the ReferenceNet; returns the written names."""
    names = spatial_attention_names(reference_net, "attn1")
    set_spatial_processors(reference_net, {n: ReferenceWriterAttnProcessor(n) for n in names})
    return names


def reference_readers(unet: nn.Module, written: list[str]) -> dict[str, ReferenceReaderAttnProcessor]:
    """Readers for every spatial ``attn1`` of the denoiser, paired with the writers by module name.

    Raises:
        ValueError: the two UNets do not have the same spatial transformer blocks.
    """
    names = spatial_attention_names(unet, "attn1")
    if sorted(names) != sorted(written):
        missing = sorted(set(names) ^ set(written))[:3]
        raise ValueError(f"ReferenceNet and denoiser have different spatial attention blocks (e.g. {missing})")
    return {n: ReferenceReaderAttnProcessor(n) for n in names}


def reference_features(reference_net: nn.Module, reference_latent: torch.Tensor, context: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run the ReferenceNet once (t = 0) and return its bank: block name → [B, N, C].

    Gradients flow when enabled (training the ReferenceNet); the pipeline calls it under no_grad.

    Args:
        reference_net: a UNet2DConditionModel with :func:`set_reference_writers` processors.
        reference_latent: [B, C, h, w] scaled VAE latent of the portrait.
        context: [B, L, D] cross-attention context (the learned null context).
    """
    bank: dict[str, torch.Tensor] = {}
    timestep = torch.zeros(reference_latent.shape[0], device=reference_latent.device, dtype=torch.long)
    reference_net(reference_latent, timestep, encoder_hidden_states=context, cross_attention_kwargs={"reference_bank": bank}, return_dict=False)
    return bank
