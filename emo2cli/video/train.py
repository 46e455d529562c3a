"""Stage 2 training (``emo2 train-video``): one phase (image or video, :mod:`emo2cli.video.phases`) on a prepared folder.

The run goes through ``accelerate`` (``accelerate launch -m emo2cli train-video ...`` for several
GPUs or machines, DDP; mixed precision bf16 on GPUs), with gradient checkpointing, an EMA of the
trained weights (diffusers ``EMAModel``), AdamW (8-bit AdamW with ``use_8bit_adam`` when
bitsandbytes is installed) at a constant learning rate, gradient clipping at 1. ``batch_size`` is
the global batch (the paper's 32 image pairs, 4 video windows), shared by the processes and the
``grad_accum`` micro-batches. Every ``save_every`` steps and at the end it writes, under the
output folder:

- the EMO2 pipeline folder itself (``model_index.json``, ``unet/``, ``reference_net/``,
  ``guidance/``, ``audio_proj/``, ``vae/``, ``scheduler/``; EMA weights): what ``gen-video
  --checkpoint`` and the next phase's ``--init`` read;
- ``train_state/``: the raw trained weights, the EMA weights, the optimiser state (all
  safetensors; the optimiser's non-tensor values in ``optimizer.json``) and ``state.json``
  (step, phase, settings);
- ``log.jsonl`` (one line per ``log_every`` steps: step, loss, lr, seconds per step), and the
  same scalars to TensorBoard under ``tensorboard/`` when tensorboard is installed;
- ``validation/step_NNNNNN.mp4`` every ``validate_every`` steps: the EMA model's video of the
  first clip (its first frame as the portrait, its hand maps and audio) beside the real clip.

A second run on the same folder resumes from ``train_state/`` (``steps`` is the total).
Randomness is a function of (seed, process, step): sample ``i`` of the data and the noise of step
``s`` are drawn from seeds made of them, so a resumed run continues exactly as an uninterrupted
one would (bitwise on a CPU).

References: diffusers ``examples/text_to_image/train_text_to_image.py`` (EMA, 8-bit Adam,
accelerate); Animate Anyone (arXiv:2311.17117) §4.1 (two-stage schedule).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from emo2cli.config import Preset
from emo2cli.errors import InputError, MissingPrerequisite
from emo2cli.video.phases import (
    PHASES,
    Stage2Trainee,
    diffusion_loss,
    motion_modules_bypassed,
    step_generator,
    trained_parameters,
)

logger = logging.getLogger(__name__)

PHASE_BATCH = {"image": 32, "video": 4}  # the paper's batch sizes (all processes, all accumulation steps)
STATE_DIR = "train_state"
LOG_FILE = "log.jsonl"
VALIDATION_DIR = "validation"
PIPELINE_ITEMS = ("model_index.json", "vae", "unet", "reference_net", "guidance", "audio_proj", "scheduler")


@dataclass
class TrainVideoConfig:
    """Settings of one ``train-video`` run (clip lengths, sampler and guidance come from the preset's ``video``)."""

    data_dir: str
    output_dir: str
    phase: str = "image"  # image | video
    init: str = ""  # Stage 2 weights to start from; "" = video.checkpoint, else video.base_model + video.motion_adapter
    steps: int = 30000
    batch_size: int | None = None  # global batch (processes x accumulation x per-process); None = 32 image, 4 video
    grad_accum: int = 1
    lr: float = 1e-5
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    ema_decay: float = 0.9999
    drop_reference: float = 0.05  # share of samples with neither reference nor audio (the CFG "none" pass)
    drop_audio: float = 0.05  # share with the reference but no audio (the CFG "reference only" pass)
    first_clip: float = 0.1  # video phase: share whose context is the reference latent (a video's first clip)
    mixed_precision: str = "auto"  # auto (bf16 on CUDA, else none) | no | bf16 | fp16
    gradient_checkpointing: bool = True
    use_8bit_adam: bool = False
    save_every: int = 1000
    validate_every: int = 1000  # 0 = never
    validation_steps: int | None = None  # sampler steps of the validation video; None = video.steps
    log_every: int = 10
    workers: int = 2  # data loader processes (0 = in the main process)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.phase not in PHASES:
            raise InputError(f"unknown phase '{self.phase}'", hint="choose image or video")
        if self.batch_size is None:
            self.batch_size = PHASE_BATCH[self.phase]
        for name in ("steps", "batch_size", "grad_accum", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.validate_every < 0 or self.workers < 0:
            raise InputError("--validate-every and --workers must be >= 0")
        if not self.lr > 0:
            raise InputError(f"--lr must be > 0, got {self.lr}")
        for name in ("drop_reference", "drop_audio", "first_clip"):
            if not 0 <= getattr(self, name) < 1:
                raise InputError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.drop_reference + self.drop_audio >= 1:
            raise InputError("drop_reference + drop_audio must be < 1")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise InputError(f"unknown mixed precision '{self.mixed_precision}'", hint="choose auto, no, bf16 or fp16")


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def optimizer_to_files(optimizer, folder: Path) -> None:
    """Optimizer state → ``optimizer.safetensors`` (tensors) + ``optimizer.json`` (everything else)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    save_tensors(tensors, folder / "optimizer.safetensors")
    (folder / "optimizer.json").write_text(json.dumps({"param_groups": state["param_groups"], "scalars": scalars}) + "\n")


def optimizer_from_files(optimizer, folder: Path) -> None:
    from safetensors.torch import load_file

    meta = json.loads((folder / "optimizer.json").read_text())
    state: dict[int, dict] = {}
    for name, value in [*load_file(str(folder / "optimizer.safetensors")).items(), *meta["scalars"].items()]:
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()} for g in meta["param_groups"]
    ]  # JSON made tuples lists
    optimizer.load_state_dict({"state": state, "param_groups": groups})


class VideoTrainer:
    """One run's state: pipeline, trained parameters, optimiser, EMA, step. Works with or without accelerate."""

    def __init__(self, pipe, cfg: TrainVideoConfig, preset: Preset, accelerator):
        from diffusers import DDPMScheduler
        from diffusers.training_utils import EMAModel

        self.pipe, self.cfg, self.preset, self.accelerator = pipe, cfg, preset, accelerator
        self.params = trained_parameters(pipe, cfg.phase)
        if cfg.gradient_checkpointing:
            for component in (pipe.unet, pipe.reference_net):
                component.enable_gradient_checkpointing()
        pipe.vae.requires_grad_(False).eval()
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.motion_frames = preset.video.motion_frames if cfg.phase == "video" else 0
        optimizer_cls = torch.optim.AdamW
        if cfg.use_8bit_adam:
            try:
                import bitsandbytes
            except ImportError:
                raise MissingPrerequisite(
                    "--use-8bit-adam needs bitsandbytes, which is not installed",
                    hint="pip install bitsandbytes (CUDA), or leave the flag off",
                ) from None
            optimizer_cls = bitsandbytes.optim.AdamW8bit
        model = Stage2Trainee(pipe, cfg.phase)
        optimizer = optimizer_cls(list(self.params.values()), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        pipe.vae.to(accelerator.device)
        self.ema = EMAModel(list(self.params.values()), decay=cfg.ema_decay)
        self.ema.to(accelerator.device)
        self.step = 0

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    def train_step(self, micro_batches: list[dict]) -> float:
        """One optimiser step over ``grad_accum`` micro-batches; returns their mean loss."""
        acc = self.accelerator
        self.model.train()
        losses = []
        for a, batch in enumerate(micro_batches):
            generator = step_generator(self.cfg.seed, self.rank, self.step, a)
            with acc.accumulate(self.model), acc.autocast():
                cfg = self.cfg
                loss = diffusion_loss(
                    self.model, self.pipe.vae, self.noise_scheduler, batch, self.motion_frames, generator,
                    cfg.drop_reference, cfg.drop_audio, cfg.first_clip,
                )  # fmt: skip
                acc.backward(loss)
                if acc.sync_gradients:
                    acc.clip_grad_norm_(list(self.params.values()), self.cfg.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
        self.step += 1
        self.ema.step(list(self.params.values()))
        return float(np.mean(losses))

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """The EMA weights in place of the trained ones (for saving and validation)."""
        params = list(self.params.values())
        self.ema.store(params)
        self.ema.copy_to(params)
        try:
            yield
        finally:
            self.ema.restore(params)

    def save(self, output_dir: Path) -> None:
        """Write the EMA pipeline folder and ``train_state/`` (each replaced whole, never half-written)."""
        from emo2cli.motion.train import _swap

        tmp = output_dir / f".{STATE_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_tensors(self.params, tmp / "trained.safetensors")
        save_tensors({f"{i}": p for i, p in enumerate(self.ema.shadow_params)}, tmp / "ema.safetensors")
        optimizer_to_files(self.optimizer, tmp)
        ema_state = {k: v for k, v in self.ema.state_dict().items() if k != "shadow_params"}
        state = {
            "step": self.step,
            "phase": self.cfg.phase,
            "ema": ema_state,
            "config": asdict(self.cfg),
            "preset": self.preset.name,
            "preset_sha256": self.preset.sha256(),
        }
        (tmp / "state.json").write_text(json.dumps(state, indent=2, default=str) + "\n")
        with self.ema_weights():
            self.pipe.save_pretrained(tmp / "pipeline")
        for name in PIPELINE_ITEMS:
            _swap(tmp / "pipeline" / name, output_dir / name)
        shutil.rmtree(tmp / "pipeline")
        _swap(tmp, output_dir / STATE_DIR)

    def load(self, output_dir: Path) -> None:
        """Resume from ``output_dir/train_state`` (trained and EMA weights, optimiser, step)."""
        from safetensors.torch import load_file

        folder = output_dir / STATE_DIR
        state = json.loads((folder / "state.json").read_text())
        trained = load_file(str(folder / "trained.safetensors"))
        if set(trained) != set(self.params):
            raise InputError("holds weights of another model or phase", path=folder, hint="pass --force to start over")
        with torch.no_grad():
            for name, param in self.params.items():
                param.copy_(trained[name])
        ema = load_file(str(folder / "ema.safetensors"))
        shadow = [ema[str(i)].to(p.device) for i, p in enumerate(self.ema.shadow_params)]
        self.ema.load_state_dict({**state["ema"], "shadow_params": shadow})
        optimizer_from_files(self.optimizer, folder)
        self.step = int(state["step"])


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def write_validation(pipe, clip, data_dir: Path, path: Path, preset: Preset, phase: str, steps: int, seed: int) -> Path:
    """The pipeline's video of ``clip`` (its first frame as the portrait) beside the real clip, with its audio."""
    from emo2cli.formats.video import VideoWriter
    from emo2cli.video.clips import read_body, read_frames

    real = read_frames(clip.path(data_dir, "video"), 0, clip.num_frames)
    maps = read_frames(clip.path(data_dir, "handmaps"), 0, clip.num_frames)
    table = np.load(clip.path(data_dir, "feats"), allow_pickle=False)
    body = read_body(clip.path(data_dir, "body"), (clip.height, clip.width)) if clip.files.get("body") else None
    video = preset.video
    with motion_modules_bypassed(pipe.unet, phase == "image"):
        made = pipe(
            real[0], list(maps), table, body_map=body, num_frames=clip.num_frames,
            clip_frames=video.clip_frames, motion_frames=video.motion_frames if phase == "video" else 0,
            num_inference_steps=steps, guidance_audio=video.guidance_audio if phase == "video" else 1.0,
            guidance_reference=video.guidance_reference, generator=torch.Generator().manual_seed(seed), decode_chunk_size=video.decode_chunk,
        ).frames  # fmt: skip
    with VideoWriter(
        path, clip.fps, (clip.height, 2 * clip.width), audio_path=clip.path(data_dir, "audio"), force=True
    ) as writer:
        for generated, original in zip(made, real):
            writer.write(np.concatenate([generated, original], axis=1))
    return path


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def load_initial_pipeline(cfg: TrainVideoConfig, preset: Preset, audio_dim: int, audio_encoder: str):
    """The pipeline a fresh run starts from, in float32 on the CPU (see ``TrainVideoConfig.init``).

    Raises:
        MissingPrerequisite: the base model or motion adapter is not found.
        InputError: weights trained on other audio features.
    """
    from emo2cli.video.loading import check_audio, load_pipeline, pipeline_from_base

    video = replace(preset.video, checkpoint=cfg.init or preset.video.checkpoint, compile=False, device="cpu", dtype="fp32")
    if video.checkpoint or os.environ.get("EMO2_STAGE2"):
        return load_pipeline(video, audio_dim, audio_encoder, device="cpu")
    try:
        pipe = pipeline_from_base(video, None, audio_dim, audio_encoder)
    except MissingPrerequisite as e:
        raise MissingPrerequisite(
            e.message, path=e.path, hint="train-video starts from an SD-1.5-class base model and an AnimateDiff adapter (video.base_model, "
            "video.motion_adapter), or from --init DIR; --preset tiny trains random tiny weights"
        ) from None  # fmt: skip
    check_audio(pipe.audio_proj, audio_dim, audio_encoder, video.base_model)
    return pipe


def _check_output(output_dir: Path, force: bool, phase: str, clear: bool = True) -> bool:
    """True when ``output_dir`` holds a run of this phase to resume; with ``force`` (and ``clear``: the main process) clears it."""
    state = output_dir / STATE_DIR / "state.json"
    if state.is_file():
        if force and not clear:
            return False
        if force:
            for name in (*PIPELINE_ITEMS, STATE_DIR, LOG_FILE, VALIDATION_DIR, "tensorboard"):
                p = output_dir / name
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
            return False
        found = json.loads(state.read_text()).get("phase")
        if found != phase:
            raise InputError(
                f"holds a run of the {found} phase, not the {phase} phase",
                path=output_dir,
                hint=f"use another folder and pass --init {output_dir} to start the {phase} phase from it",
            )
        return True
    if output_dir.exists() and any(output_dir.iterdir()) and not force:
        raise InputError("exists and is not a train-video folder", path=output_dir, hint="choose an empty folder or pass --force")
    return False


def _mixed_precision(choice: str) -> str | None:
    if choice != "auto":
        return choice
    if os.environ.get("ACCELERATE_MIXED_PRECISION"):
        return None  # accelerate's own config (accelerate launch / accelerate config) decides
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _make_accelerator(cfg: TrainVideoConfig, output_dir: Path):
    import importlib.util

    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.utils import DistributedType, ProjectConfiguration

    # image phase: the ReferenceNet's layers after its last written block get no gradient
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=cfg.phase == "image")]
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(cfg.mixed_precision),
        gradient_accumulation_steps=cfg.grad_accum,
        cpu=not torch.cuda.is_available(),
        kwargs_handlers=handlers,
        log_with="tensorboard" if tensorboard else None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "tensorboard")),
    )
    if accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        raise InputError(
            f"{accelerator.distributed_type.value} is not supported: the EMA and the safetensors train state need whole parameters on every process",
            hint="use an accelerate config with multi_gpu (DDP), on one or several machines",
        )
    return accelerator


def train_video(
    cfg: TrainVideoConfig, preset: Preset, force: bool = False, on_progress: Callable[[int, int], None] | None = None
) -> dict:
    """Train (or resume) one phase of Stage 2 on a prepared folder; write the checkpoint to ``cfg.output_dir``.

    Returns:
        {"phase", "step", "resumed_from", "loss" (mean of the last log interval; NaN on processes
        other than the main one, which alone logs), "step_s" (mean seconds per step of this run),
        "output", "validation" (videos written), "process" (this process's index)}.

    Raises:
        InputError: a bad dataset, a foreign output folder, a batch size the processes cannot share.
        MissingPrerequisite: base weights, bitsandbytes (``use_8bit_adam``) not found.
    """
    from torch.utils.data import DataLoader

    from emo2cli.video.clips import ClipSamples, read_manifest

    output_dir, data_dir = Path(cfg.output_dir), Path(cfg.data_dir)
    clips = read_manifest(data_dir)
    accelerator = _make_accelerator(cfg, output_dir)
    resume = _check_output(output_dir, force, cfg.phase, clear=accelerator.is_main_process)
    accelerator.wait_for_everyone()
    per_process, left = divmod(cfg.batch_size, accelerator.num_processes * cfg.grad_accum)
    if left or per_process < 1:
        raise InputError(
            f"--batch-size {cfg.batch_size} cannot be shared by {accelerator.num_processes} process(es) x {cfg.grad_accum} accumulation step(s)",
            hint="make it a multiple of processes x --grad-accum",
        )
    first = clips[0]
    if resume:
        pipe = load_initial_pipeline(replace(cfg, init=str(output_dir)), preset, first.audio_dim, first.audio_encoder)
    else:
        pipe = load_initial_pipeline(cfg, preset, first.audio_dim, first.audio_encoder)
    pipe.set_progress_bar_config(disable=True)
    if first.height % pipe.vae_scale_factor or first.width % pipe.vae_scale_factor:
        raise InputError(
            f"clips are {first.height}x{first.width}: not a multiple of the VAE's {pipe.vae_scale_factor}x", path=data_dir
        )
    trainer = VideoTrainer(pipe, cfg, preset, accelerator)
    output_dir.mkdir(parents=True, exist_ok=True)  # only now: a run that cannot start leaves nothing behind
    if resume:
        trainer.load(output_dir)
        logger.info("resuming %s at step %d", output_dir, trainer.step)
    resumed_from = trainer.step
    window = 1 if cfg.phase == "image" else preset.video.motion_frames + preset.video.clip_frames
    samples = ClipSamples(data_dir, clips, window, pipe.audio_proj.config.window_radius, cfg.seed, trainer.rank)
    micro_per_step = cfg.grad_accum
    start_id = resumed_from * micro_per_step * per_process
    loader = DataLoader(
        samples,
        batch_size=per_process,
        sampler=range(start_id, start_id + (cfg.steps - resumed_from) * micro_per_step * per_process),
        num_workers=cfg.workers,
    )
    main = accelerator.is_main_process
    if main and accelerator.log_with:
        accelerator.init_trackers(
            "train-video", config={k: v for k, v in asdict(cfg).items() if isinstance(v, (int, float, str, bool))}
        )
    validation_steps = cfg.validation_steps or preset.video.steps
    written: list[str] = []
    losses: list[float] = []
    last_loss = float("nan")
    t0, t_log = time.perf_counter(), time.perf_counter()
    batches = iter(loader)
    while trainer.step < cfg.steps:
        losses.append(trainer.train_step([next(batches) for _ in range(micro_per_step)]))
        step = trainer.step
        if main and (step % cfg.log_every == 0 or step == cfg.steps):
            now = time.perf_counter()
            record = {
                "step": step,
                "loss": float(np.mean(losses)),
                "lr": cfg.lr,
                "step_s": round((now - t_log) / len(losses), 4),
                "elapsed_s": round(now - t0, 2),
            }
            with open(output_dir / LOG_FILE, "a") as f:
                f.write(json.dumps(record) + "\n")
            if accelerator.log_with:
                accelerator.log({"loss": record["loss"], "step_s": record["step_s"]}, step=step)
            logger.info("%s phase step %d loss %.4f (%.2f s/step)", cfg.phase, step, record["loss"], record["step_s"])
            last_loss, losses, t_log = record["loss"], [], now
        if step % cfg.save_every == 0 or step == cfg.steps:
            accelerator.wait_for_everyone()
            if main:
                trainer.save(output_dir)
        if cfg.validate_every and (step % cfg.validate_every == 0 or step == cfg.steps) and main:
            path = output_dir / VALIDATION_DIR / f"step_{step:06d}.mp4"
            with trainer.ema_weights():
                written.append(str(write_validation(pipe, first, data_dir, path, preset, cfg.phase, validation_steps, cfg.seed)))
        if on_progress is not None:
            on_progress(step, cfg.steps)
    if main and not (output_dir / "model_index.json").exists():
        trainer.save(output_dir)
    if main and accelerator.log_with:
        accelerator.end_training()
    steps_run = trainer.step - resumed_from
    return {
        "phase": cfg.phase,
        "step": trainer.step,
        "resumed_from": resumed_from,
        "loss": last_loss,
        "step_s": round((time.perf_counter() - t0) / steps_run, 4) if steps_run else None,
        "output": str(output_dir),
        "validation": written,
        "process": accelerator.process_index,
    }
