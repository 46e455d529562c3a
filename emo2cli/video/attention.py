"""Stage 2 attention processors: how the EMO2 layers plug into diffusers UNets (STYLE §1).

Nothing here edits a diffusers module: the denoiser and the ReferenceNet get processors through
``set_attn_processor``, and the per-call features travel in ``cross_attention_kwargs``:

| kwarg | shape | read by |
|---|---|---|
| ``reference_bank`` | dict, filled: block name → [B, N, C] | ReferenceNet ``attn1`` (writer) |
| ``reference_hidden_states`` | dict: block name → [B, N, C] | denoiser ``attn1`` (reader) |
| ``reference_mask`` | [B] bools (list or tensor), entries that see the reference | reader |
| ``audio_tokens`` | [B·F, L, D] | denoiser ``attn2`` (audio) |
| ``audio_mask`` | [B·F] float/bool, rows that hear the audio | audio |

diffusers passes ``cross_attention_kwargs`` to both attentions of every spatial transformer block
and drops (with a warning) any kwarg a processor's signature lacks, so every spatial processor
here takes all of them (:class:`Stage2AttnProcessor`). The temporal (motion-module) attentions
never receive them and keep their processors. B counts videos (or images) in the UNet batch,
F frames; rows are batch-major (b·F + f), the order ``UNetMotionModel`` uses.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import AttnProcessor2_0
from torch import nn

MOTION_MODULE = "motion_modules"


class Stage2AttnProcessor(AttnProcessor2_0):
    """diffusers' scaled-dot-product attention that accepts every Stage 2 kwarg.

    Subclasses override :meth:`process`; ``features`` holds the Stage 2 kwargs given (None for
    the others). :meth:`attend` is diffusers' own attention.
    """

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        reference_bank: dict | None = None,
        reference_hidden_states: dict | None = None,
        reference_mask: torch.Tensor | None = None,
        audio_tokens: torch.Tensor | None = None,
        audio_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        features = {
            "reference_bank": reference_bank,
            "reference_hidden_states": reference_hidden_states,
            "reference_mask": reference_mask,
            "audio_tokens": audio_tokens,
            "audio_mask": audio_mask,
        }
        return self.process(attn, hidden_states, encoder_hidden_states, attention_mask, temb, features)

    def process(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb, features: dict) -> torch.Tensor:
        return self.attend(attn, hidden_states, encoder_hidden_states, attention_mask, temb)

    def attend(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None) -> torch.Tensor:
        return AttnProcessor2_0.__call__(self, attn, hidden_states, encoder_hidden_states, attention_mask, temb)


def spatial_attention_names(unet: nn.Module, which: str) -> list[str]:
    """Names (``down_blocks.0.attentions.0.transformer_blocks.0.attn1``) of the spatial ``attn1``
    or ``attn2`` modules, in ``unet.attn_processors`` order (module traversal order)."""
    suffix = f".{which}.processor"
    return [k[: -len(".processor")] for k in unet.attn_processors if k.endswith(suffix) and MOTION_MODULE not in k]


def set_spatial_processors(unet: nn.Module, make: dict[str, object]) -> None:
    """Give every spatial attention a processor: ``make[name]`` where given, else :class:`Stage2AttnProcessor`.

    Temporal attentions keep theirs. ``make`` maps names from :func:`spatial_attention_names`.
    """
    procs = {}
    for key, current in unet.attn_processors.items():
        name = key[: -len(".processor")]
        if MOTION_MODULE in key:
            procs[key] = current
        else:
            procs[key] = make.get(name) or Stage2AttnProcessor()
    unknown = set(make) - {k[: -len(".processor")] for k in procs}
    if unknown:
        raise ValueError(f"no such attention modules: {sorted(unknown)[:3]}")
    unet.set_attn_processor(procs)


def remove_stage2_processors(unet: nn.Module) -> None:
    """Back to diffusers' default processor everywhere (the base UNet, bit for bit)."""
    unet.set_attn_processor(AttnProcessor2_0())
