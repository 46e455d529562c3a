"""``convert_echomimicv2``: a user's EchoMimicV2 files → an EMO2 Stage 2 pipeline folder (``emo2 convert-weights``).

Reads ``denoising_unet.pth``, ``motion_module.pth``, ``reference_unet.pth`` and
``pose_encoder.pth`` (or the ``_acc`` denoiser and motion files) with
``torch.load(weights_only=True, mmap=True)`` (:mod:`emo2cli.video.state_dicts`): only plain
tensors, never arbitrary pickled objects.
The keys are mapped as :mod:`emo2cli.video.echomimic` describes, every key is checked against
the model it feeds (missing, unexpected, shape-mismatched), and the pipeline is written with
``save_pretrained`` (safetensors + ``model_index.json``) into a temporary sibling folder that
is renamed onto the output at the end, so a failed run leaves nothing behind.

Their own loader (``strict=False``) silently leaves missing or mismatched keys at random
initialisation; here any key the model needs that the files do not supply, and any shape
mismatch, is an error naming the key. Keys the model does not use are reported and skipped.

The VAE (``sd-vae-ft-mse``) is not among their files: it is read from ``--vae``, else
``SRC/sd-vae-ft-mse``, else the weights resolver. The UNets' architecture is SD-1.5's (their
base, ``sd-image-variations-diffusers``), read from ``--base-unet``/``SRC/sd-image-variations-diffusers/unet``
when given (its weights, if present, fill keys the files lack, at the lowest precedence), else
the built-in SD-1.5 table; the audio width, motion-module depth and table length and the pose
encoder's widths are read from the files' shapes.

Their ``audio_processor/tiny.pt`` (OpenAI's Whisper-tiny checkpoint, when present) becomes
``OUTPUT/whisper-tiny/``, a transformers ``WhisperModel`` folder that ``gen-video`` uses for the
audio tokens (``emo2cli.video.generate.stage2_whisper``); without it, ``audio.whisper_model``
(``openai/whisper-tiny``, the same weights) is resolved as usual.

The output folder records provenance and the licence situation (``echomimicv2_conversion.json``,
``NOTICE.md``): their code is Apache-2.0; the weights' model card states no licence, and the
UNets derive from an OpenRAIL-M model. emo2 never downloads or ships these weights.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from emo2cli import __version__
from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_dir, refuse_overwrite, sha256_file
from emo2cli.video import echomimic as em
from emo2cli.video.state_dicts import (
    SOURCE_HINT,
    KeyReport,
    build_on_meta,
    diffusers_quiet,
    load_checked,
    read_state_dict,
    read_whisper_checkpoint,
)

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "echomimicv2_conversion.json"
NOTICE_FILE = "NOTICE.md"
PROVENANCE_FORMAT = "emo2.converted_weights/1"
VAE_REF = "stabilityai/sd-vae-ft-mse"  # their pretrained_vae_path
BASE_FOLDER = "sd-image-variations-diffusers"  # their pretrained_base_model_path, inside their pretrained_weights/
VAE_FOLDER = "sd-vae-ft-mse"
WHISPER_FOLDER = "whisper-tiny"  # in the output: their Whisper-tiny as a transformers folder
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
NOTICE = """# Converted EchoMimicV2 weights: provenance and licence

This folder was written by `emo2 convert-weights echomimicv2` (emo2cli {version}) from files the
user supplied: {files}. emo2 does not download, ship or redistribute these weights.

- EchoMimicV2's **code** (antgroup/echomimic_v2) is Apache-2.0.
- The **weights'** model card (BadToBest/EchoMimicV2) states no licence. Treat their terms as
  unclear: ask the authors before any use beyond private research.
- The UNets were fine-tuned from `lambdalabs/sd-image-variations-diffusers` (Stable Diffusion),
  released under the **CreativeML OpenRAIL-M** licence, whose use restrictions plausibly carry
  over to derived weights. The VAE (`stabilityai/sd-vae-ft-mse`) and Whisper are MIT.
- Do not redistribute this folder. Keep this notice with it.

Changes made by the conversion (numerically exact): key renames (AnimateDiff motion modules →
diffusers names), the audio output scale x{scale} folded into every `attn2.to_out.0`, the
ReferenceNet's absent cross-attention filled with zeros, the pose encoder placed under
`guidance.embedding`.
"""


@dataclass
class ConversionResult:
    """What :func:`convert_echomimicv2` wrote: the folder, the variant, the dtype, a report per component."""

    output: Path
    variant: str
    dtype: str
    reports: dict[str, KeyReport]
    sources: dict[str, dict]
    seconds: float
    whisper: Path | None = None  # OUTPUT/whisper-tiny when their audio_processor/tiny.pt was there

    def to_dict(self) -> dict:
        return {
            "output": str(self.output),
            "whisper": str(self.whisper) if self.whisper else None,
            "variant": self.variant,
            "dtype": self.dtype,
            "reports": {k: asdict(v) for k, v in self.reports.items()},
            "sources": self.sources,
            "seconds": round(self.seconds, 2),
        }


# ---------------------------------------------------------------------------------------------
# The base UNet (architecture, and weights for keys their files lack)
# ---------------------------------------------------------------------------------------------


def _base_config(folder: Path | None) -> dict:
    """The UNet config of a diffusers UNet folder; the built-in SD-1.5 config when None."""
    from diffusers import UNet2DConditionModel

    from emo2cli.video.builtin import _TABLE

    if folder is None:
        return dict(_TABLE["sd15"]["unet2d"])
    if not (folder / "config.json").is_file():
        raise InputError(
            "is not a diffusers UNet folder (no config.json)", path=folder, hint="pass the base model's unet/ folder"
        )
    return dict(UNet2DConditionModel.load_config(folder))


def _base_weights(folder: Path | None, keys: list[str]) -> dict[str, torch.Tensor]:
    """``keys`` from a diffusers UNet folder's weights (safetensors read lazily, or a weights-only .bin); {} without weights."""
    if folder is None:
        return {}
    found: dict[str, torch.Tensor] = {}
    for file in sorted(folder.glob("diffusion_pytorch_model*.safetensors")):
        from safetensors import safe_open

        with safe_open(str(file), "pt") as f:
            available = set(f.keys())
            found.update({k: f.get_tensor(k) for k in keys if k in available})
    if not found:
        for file in sorted(folder.glob("diffusion_pytorch_model*.bin")):
            state = read_state_dict(file)
            found.update({k: state[k] for k in keys if k in state})
    return found


# ---------------------------------------------------------------------------------------------
# Fill rules; the recipe check gen-video runs
# ---------------------------------------------------------------------------------------------


def recipe_warnings(folder: str | os.PathLike | None, preset) -> list[str]:
    """Lines to warn with when ``preset`` runs a converted folder against the recipe its weights need."""
    record = Path(folder) / PROVENANCE_FILE if folder is not None else None
    if record is None or not record.is_file():
        return []
    wanted = json.loads(record.read_text()).get("preset", "echomimicv2")
    lines = []
    if preset.render.style != "echomimicv2":
        lines.append(
            f"render.style is '{preset.render.style}': EchoMimicV2's weights only understand their hand-keypoint maps (echomimicv2)"
        )
    if preset.fps != 24.0:
        lines.append(f"fps is {preset.fps:g}: EchoMimicV2's weights were trained at 24 fps")
    return [f"{line}; use --preset {wanted}" for line in lines]


def _position_fill(positions: dict):
    """Fills our ``pos_embed.pe`` buffers with the sinusoidal formula, checked against their tables."""
    from diffusers.models.embeddings import SinusoidalPositionalEmbedding

    def fill(key: str, meta: torch.Tensor) -> torch.Tensor | None:
        if not key.endswith(".pos_embed.pe"):
            return None
        table = SinusoidalPositionalEmbedding(meta.shape[2], meta.shape[1]).pe
        for name in em.position_keys_to_echomimic(key):
            theirs = positions.get(name)
            if theirs is None:
                continue
            n = min(theirs.shape[1], table.shape[1])
            if theirs.shape[-1] != table.shape[-1] or not torch.allclose(theirs[:, :n].float(), table[:, :n], atol=2e-3):
                raise InputError(
                    f"position table '{name}' is not the sinusoidal table diffusers computes", path=em.FILES["motion"]
                )
        return table

    return fill


# ---------------------------------------------------------------------------------------------
# The conversion
# ---------------------------------------------------------------------------------------------


def _find_vae(src: Path, vae: str | os.PathLike | None) -> Path:
    from emo2cli.weights import resolve

    if vae is not None:
        path = Path(vae)
        if not path.is_dir():
            raise InputError("no such VAE folder", path=path)
        return path
    if (src / VAE_FOLDER).is_dir():
        return src / VAE_FOLDER
    return resolve(
        VAE_REF,
        "SD VAE (sd-vae-ft-mse, EchoMimicV2's pretrained_vae_path)",
        env_var="EMO2_VAE",
        instead="convert-weights cannot write a complete pipeline",
    )


def _find_base(src: Path, base_unet: str | os.PathLike | None) -> Path | None:
    if base_unet is not None:
        path = Path(base_unet)
        if (path / "unet" / "config.json").is_file():
            return path / "unet"
        return path
    guess = src / BASE_FOLDER / "unet"
    return guess if (guess / "config.json").is_file() else None


def _whisper_positions(key: str, meta: torch.Tensor) -> torch.Tensor | None:
    """OpenAI's encoder position table (``whisper/model.py`` ``sinusoids``), should a file lack the buffer."""
    if key != "encoder.embed_positions.weight":
        return None
    length, channels = meta.shape
    increment = math.log(10000) / (channels // 2 - 1)
    scaled = torch.arange(length)[:, None] * torch.exp(-increment * torch.arange(channels // 2))[None]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


def convert_whisper(path: str | os.PathLike, folder: str | os.PathLike) -> KeyReport:
    """OpenAI-format Whisper checkpoint → a transformers ``WhisperModel`` folder (float32 safetensors).

    The ``whisper-tiny`` audio encoder (``emo2cli.audio.whisper``) reads it with
    ``audio.whisper_model: FOLDER`` (or ``EMO2_WHISPER``). Keys are renamed as transformers'
    ``convert_openai_to_hf.py`` does; the numbers are unchanged.

    Raises:
        InputError: an unsafe or unreadable file, a missing or mismatched key (named).
    """
    from transformers import WhisperConfig, WhisperModel

    dims, state = read_whisper_checkpoint(path)
    model = build_on_meta(lambda: WhisperModel(WhisperConfig(**em.whisper_config(dims, state))))
    report = KeyReport("whisper")
    files = {em.whisper_key_to_transformers(k): v for k, v in state.items()}
    load_checked(
        model,
        files,
        report,
        torch.float32,
        _whisper_positions,
        str(path),
        hint="a Whisper checkpoint whose 'dims' do not match its tensors",
    )
    model.save_pretrained(folder)
    return report


def convert_echomimicv2(
    src: str | os.PathLike,
    output: str | os.PathLike,
    *,
    base_unet: str | os.PathLike | None = None,
    vae: str | os.PathLike | None = None,
    acc: bool = False,
    dtype: str | None = None,
    force: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> ConversionResult:
    """Convert EchoMimicV2's Stage-2 files in ``src`` into an EMO2 pipeline folder at ``output``.

    Args:
        src: the folder with their ``.pth`` files (their ``pretrained_weights/``).
        output: the pipeline folder to write (``emo2 gen-video --checkpoint OUTPUT``).
        base_unet: a diffusers UNet folder (or a model folder with ``unet/``) giving the UNet
            architecture and, at the lowest precedence, weights for keys the files lack.
        vae: an ``AutoencoderKL`` folder (default: ``SRC/sd-vae-ft-mse``, else ``stabilityai/sd-vae-ft-mse``).
        acc: use ``denoising_unet_acc.pth`` + ``motion_module_acc.pth`` (their 6-step distilled set).
        dtype: "fp16", "bf16" or "fp32" for the saved weights (default: the denoiser file's).
        force: replace an existing ``output``.
        on_progress: ``(done, total)`` over the conversion's stages.

    Returns:
        ConversionResult with a :class:`KeyReport` per component.

    Raises:
        InputError: a missing or unsafe file, a missing or shape-mismatched key (named), an
            existing output without ``force``.
        MissingPrerequisite: the VAE is not found.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from emo2cli.video.audio_attention import AudioProjection
    from emo2cli.video.guidance import MotionGuidanceEncoder
    from emo2cli.video.pipeline import EMO2VideoPipeline

    started = time.perf_counter()
    src, output = Path(src), Path(output)
    if not src.is_dir():
        raise InputError("no such folder", path=src, hint=SOURCE_HINT)
    refuse_overwrite(output, force)
    if dtype is not None and dtype not in DTYPES:
        raise InputError(f"unknown dtype '{dtype}'", hint=f"choose from {', '.join(DTYPES)}")
    names = {**em.FILES, **(em.ACC_FILES if acc else {})}
    total = len(names) + 5
    step = iter(range(1, total + 1))

    def tick() -> None:
        if on_progress is not None:
            on_progress(next(step), total)

    # 1. Their files (plain tensors only), the base config, the VAE location
    paths = {part: src / name for part, name in names.items()}
    for path in paths.values():
        if not path.is_file():
            raise InputError("no such file", path=path, hint=SOURCE_HINT)
    vae_dir = _find_vae(src, vae)
    base_dir = _find_base(src, base_unet)
    states = {}
    for part, path in paths.items():
        states[part] = read_state_dict(path)
        tick()
    first_float = next((v.dtype for v in states["denoiser"].values() if v.is_floating_point()), torch.float32)
    target = DTYPES[dtype] if dtype else first_float
    dtype_name = {v: k for k, v in DTYPES.items()}.get(target, "fp32")
    base_config = _base_config(base_dir)
    reports = {name: KeyReport(name) for name in ("unet", "reference_net", "guidance")}

    # 2. Denoiser: base < motion module < denoiser; audio scale folded
    merged, positions = em.denoiser_state(states["motion"], states["denoiser"])
    where = f"{paths['denoiser']} + {paths['motion'].name}"
    try:
        width = em.cross_attention_width(merged)
    except KeyError:
        raise InputError("has no spatial attn2.to_k.weight: not an EchoMimicV2 denoiser", path=paths["denoiser"]) from None
    unet_config = {**base_config, "cross_attention_dim": width}
    layers = em.motion_layers(merged)
    adapter_config = {
        "block_out_channels": tuple(unet_config["block_out_channels"]),
        "motion_layers_per_block": unet_config.get("layers_per_block", 2),
        "motion_transformer_layers_per_block": layers["motion_transformer_layers_per_block"],
        "motion_num_attention_heads": em.MOTION_HEADS,
        "motion_norm_num_groups": em.MOTION_NORM_GROUPS,
        "motion_max_seq_length": em.motion_positions(positions),
        "use_motion_mid_block": layers["use_motion_mid_block"],
    }
    with diffusers_quiet():
        unet = build_on_meta(
            lambda: UNetMotionModel.from_unet2d(
                UNet2DConditionModel.from_config(unet_config), MotionAdapter(**adapter_config), load_weights=False
            )
        )
    absent = [k for k in unet.state_dict() if k not in merged and not k.endswith(".pos_embed.pe") and ".attn2." not in k]
    if absent:  # the base UNet fills spatial keys their files lack; its text cross-attention is not their audio attention
        from_base = _base_weights(base_dir, absent)
        merged.update(from_base)
        reports["unet"].from_base = len(from_base)
    load_checked(unet, merged, reports["unet"], target, _position_fill(positions), where)
    del merged, states["denoiser"], states["motion"]  # their mmapped files are done with
    tick()

    # 3. ReferenceNet: a plain UNet2DConditionModel whose cross-attention adds exactly zero
    reference_net = build_on_meta(lambda: UNet2DConditionModel.from_config(unet_config))
    fill = lambda key, meta: em.reference_fill(key, torch.empty(meta.shape)) if em.is_reference_absent(key) else None
    load_checked(reference_net, states.pop("reference"), reports["reference_net"], target, fill, str(paths["reference"]))
    tick()

    # 4. Pose encoder → guidance.embedding
    try:
        pose_shape = em.pose_encoder_shape(states["pose"])
    except KeyError as e:
        raise InputError(f"key '{e.args[0]}' is missing: not an EchoMimicV2 pose encoder", path=paths["pose"]) from None
    guidance = build_on_meta(lambda: MotionGuidanceEncoder(body_map=False, **pose_shape))
    pose = {em.POSE_PREFIX + k: v for k, v in states["pose"].items()}
    load_checked(guidance, pose, reports["guidance"], target, lambda key, meta: None, str(paths["pose"]))
    del states
    tick()

    # 5. VAE, audio rows, scheduler → the pipeline
    try:
        sub = "vae" if (vae_dir / "vae" / "config.json").is_file() else None
        with diffusers_quiet():
            vae_model = AutoencoderKL.from_pretrained(vae_dir, subfolder=sub)  # its own dtype: SD's VAE is fp32 (fp16 overflows)
    except (OSError, ValueError) as e:
        raise InputError(f"is not a loadable AutoencoderKL folder ({str(e).splitlines()[0][:120]})", path=vae_dir) from None
    audio_proj = AudioProjection(
        audio_dim=width, window_radius=0, hidden_dim=width, token_dim=width, cross_attention_dim=width,
        null_context_tokens=1, injection="attn2", audio_encoder=em.AUDIO_ENCODER,
    )  # fmt: skip
    audio_proj.null_context.data = audio_proj.null_context.data.to(target)
    try:
        pipe = EMO2VideoPipeline(
            vae=vae_model, unet=unet, reference_net=reference_net, guidance=guidance, audio_proj=audio_proj,
            scheduler=DDIMScheduler(**em.SCHEDULER_CONFIG), motion_norm="per_frame", pose_in_uncond=False,
        )  # fmt: skip
    except ValueError as e:
        raise InputError(f"the converted components do not fit together: {e}", path=src) from None
    tick()

    # 6. Sources and provenance, then write into a temporary sibling and rename
    sources = {
        part: {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)} for part, path in paths.items()
    }
    sources["vae"] = {"folder": str(vae_dir)}
    sources["base_unet"] = {"folder": str(base_dir) if base_dir else "built-in SD-1.5 UNet config (no weights)"}
    result = ConversionResult(output, "acc" if acc else "standard", dtype_name, reports, sources, 0.0)
    with atomic_dir(output, force) as tmp:
        with diffusers_quiet():
            pipe.save_pretrained(tmp, safe_serialization=True)
        whisper = src / em.WHISPER_FILE
        if whisper.is_file():  # their copy of OpenAI's Whisper-tiny, for the audio tokens
            reports["whisper"] = convert_whisper(whisper, tmp / WHISPER_FOLDER)
            sources["whisper"] = {"file": em.WHISPER_FILE, "bytes": whisper.stat().st_size, "sha256": sha256_file(whisper)}
            result.whisper = output / WHISPER_FOLDER
        result.seconds = time.perf_counter() - started
        provenance = {
            "format": PROVENANCE_FORMAT,
            "producer": f"emo2cli {__version__} convert-weights echomimicv2",
            "source": "EchoMimicV2 (code: antgroup/echomimic_v2, Apache-2.0; weights: BadToBest/EchoMimicV2, no licence stated)",
            "preset": "echomimicv2-acc" if acc else "echomimicv2",
            "audio_encoder": em.AUDIO_ENCODER,
            "audio_output_scale_folded": em.AUDIO_OUTPUT_SCALE,
            "motion_norm": "per_frame",
            "pose_in_uncond": False,
            "pose_style": "echomimicv2",
            "licence": "unclear: weights without a stated licence; UNets derived from CreativeML OpenRAIL-M (see NOTICE.md)",
            **result.to_dict(),
        }
        provenance.pop("output")
        provenance.pop("whisper")
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        files = ", ".join(f"`{p.name}`" for p in paths.values())
        (tmp / NOTICE_FILE).write_text(NOTICE.format(version=__version__, files=files, scale=em.AUDIO_OUTPUT_SCALE))
    tick()
    for report in reports.values():
        logger.debug(report.summary())
    return result
