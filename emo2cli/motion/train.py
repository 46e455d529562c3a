"""Stage 1 training (``emo2 train-hands``): DDPM on random windows, x0 prediction, masked loss, EMA.

The loss (:func:`diffusion_loss`): the C context frames stay clean, the N window frames are
noised with ``DDPMScheduler.add_noise`` at a uniform random step, and the model's x0 estimate is
compared with the clean frames by mean squared error over the values of valid hands only (the
hand mask), context frames excluded; an optional velocity term compares frame-to-frame
differences (the first one taken from the last context frame, so the seam is trained too).
Audio is replaced by the learned null token for ``audio_drop`` of the windows (CFG).

The run (:func:`train_hands`): AdamW with a linear warm-up, gradient clipping at 1, an EMA copy
of the weights (the published weights), bf16 autocast on GPUs, ``accelerate`` for one or many
GPUs (``accelerate launch -m emo2cli train-hands ...``). Every ``save_every`` steps and at the
end it writes, under the output folder:

- the pipeline folder itself (``model_index.json``, ``transformer/``, ``scheduler/``; EMA
  weights): what ``gen-hands --checkpoint`` reads;
- ``train_state/``: raw weights and EMA weights (safetensors), the optimiser state
  (``optimizer.pt``, tensors only, read back with ``torch.load(weights_only=True)``) and
  ``state.json`` (step, data-sampler RNG state, the run's settings);
- ``log.jsonl``: one JSON line per ``log_every`` steps (step, loss, lr, elapsed seconds).

A second run on the same folder resumes from ``train_state/`` (``--steps`` is the total).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from emo2cli.config import Preset
from emo2cli.errors import InputError
from emo2cli.hands.vector import PER_HAND
from emo2cli.motion.data import MotionWindows, dataset_encoder, load_clips, motion_statistics
from emo2cli.motion.model import DEFAULT_STYLES, MotionDiT, MotionDiT_models
from emo2cli.motion.pipeline import MotionPipeline, training_scheduler

logger = logging.getLogger(__name__)

STATE_DIR = "train_state"
LOG_FILE = "log.jsonl"


@dataclass
class TrainHandsConfig:
    """Settings of one ``train-hands`` run (window and context come from the preset's ``motion``)."""

    data_dir: str
    output_dir: str
    size: str = "S"  # tiny | S | B | L (MotionDiT_models)
    steps: int = 20000
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500
    ema_decay: float = 0.999
    audio_drop: float = 0.1  # share of windows trained with the null audio token (CFG)
    velocity_weight: float = 1.0  # 0 turns the velocity loss off
    save_every: int = 1000
    log_every: int = 50
    seed: int = 0
    styles: list[str] = field(default_factory=lambda: list(DEFAULT_STYLES))

    def __post_init__(self) -> None:
        if self.size not in MotionDiT_models:
            raise InputError(f"unknown model size '{self.size}'", hint=f"choose one of {', '.join(MotionDiT_models)}")
        for name, value in (("steps", self.steps), ("batch_size", self.batch_size), ("save_every", self.save_every), ("log_every", self.log_every)):
            if value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if not self.lr > 0:
            raise InputError(f"--lr must be > 0, got {self.lr}")
        if not 0 <= self.audio_drop < 1:
            raise InputError(f"audio_drop must be in [0, 1), got {self.audio_drop}")


def batch_to_tensors(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, device=device) for k, v in batch.items()}


def diffusion_loss(
    model: MotionDiT,
    scheduler,
    batch: dict[str, torch.Tensor],
    generator: torch.Generator | None = None,
    audio_drop: float = 0.1,
    velocity_weight: float = 1.0,
) -> torch.Tensor:
    """Masked x0 loss of one batch (module docstring).

    Args:
        model: the (unwrapped or accelerate-wrapped) MotionDiT; its config gives C.
        scheduler: a DDPMScheduler (``add_noise``, ``config.num_train_timesteps``).
        batch: tensors of :meth:`MotionWindows.sample` on the model's device.
        generator: CPU generator for steps, noise and audio dropout (None = torch's global RNG).

    Returns:
        scalar loss.
    """
    core = model.module if hasattr(model, "module") else model
    c = core.config.context
    motion, mask = batch["motion"], batch["mask"]
    b, n, _ = motion.shape
    weights = mask.repeat_interleave(PER_HAND, dim=2).float()  # [B, L, 134]: 1 on values of valid hands
    x0 = core.normalize_motion(motion) * weights  # invalid values → 0, the mean
    device = motion.device
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=generator).to(device)
    noise = torch.randn(x0[:, c:].shape, generator=generator).to(device)
    drop = (torch.rand(b, generator=generator) < audio_drop).to(device)
    x_in = torch.cat([x0[:, :c], scheduler.add_noise(x0[:, c:], noise, t)], dim=1)  # [B, L, 134]
    pred = model(x_in, t, batch["style"], batch["speed"], batch["offset"], c, audio=batch["audio"], drop_audio=drop, hand_mask=mask).float()
    w = weights[:, c:]
    loss = ((pred[:, c:] - x0[:, c:]) ** 2 * w).sum() / w.sum().clamp(min=1)
    if velocity_weight > 0 and n - c > 1:
        start = max(c - 1, 0)
        pred_seq = torch.cat([x0[:, start:c], pred[:, c:]], dim=1)
        w_v = weights[:, start + 1 :] * weights[:, start:-1]  # both frames valid
        loss = loss + velocity_weight * ((pred_seq.diff(dim=1) - x0[:, start:].diff(dim=1)) ** 2 * w_v).sum() / w_v.sum().clamp(min=1)
    return loss


class HandsTrainer:
    """One training run's state: model, EMA copy, optimiser, data sampler, step counter.

    Works with or without ``accelerate`` (tests drive it directly on the CPU).
    """

    def __init__(self, model: MotionDiT, windows: MotionWindows, cfg: TrainHandsConfig, accelerator=None):
        self.cfg = cfg
        self.accelerator = accelerator
        self.scheduler = training_scheduler()
        self.windows = windows
        self.ema = copy.deepcopy(model).requires_grad_(False).eval()
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.lr_schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / max(cfg.warmup_steps, 1)))
        process = accelerator.process_index if accelerator is not None else 0
        self.rng = np.random.default_rng([cfg.seed, process])  # data windows; each process its own stream
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + process)  # steps, noise, dropout
        if accelerator is not None:
            model, self.optimizer, self.lr_schedule = accelerator.prepare(model, self.optimizer, self.lr_schedule)
            self.ema.to(accelerator.device)
        self.model = model
        self.step = 0

    @property
    def unwrapped(self) -> MotionDiT:
        return self.accelerator.unwrap_model(self.model) if self.accelerator is not None else self.model

    def train_step(self) -> float:
        self.model.train()
        device = self.accelerator.device if self.accelerator is not None else self.unwrapped.device
        batch = batch_to_tensors(self.windows.sample(self.cfg.batch_size, self.rng), device)
        if self.accelerator is not None:
            with self.accelerator.autocast():
                loss = diffusion_loss(self.model, self.scheduler, batch, self.generator, self.cfg.audio_drop, self.cfg.velocity_weight)
            self.accelerator.backward(loss)
            self.accelerator.clip_grad_norm_(self.model.parameters(), 1.0)
        else:
            loss = diffusion_loss(self.model, self.scheduler, batch, self.generator, self.cfg.audio_drop, self.cfg.velocity_weight)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.lr_schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self._update_ema()
        return float(loss.detach())

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.cfg.ema_decay, (1 + self.step) / (10 + self.step))  # short warm-up, as diffusers' EMAModel
        ema_params = list(self.ema.parameters())
        torch._foreach_lerp_(ema_params, [p.detach().to(e.dtype) for p, e in zip(self.unwrapped.parameters(), ema_params)], 1 - decay)

    # ------------------------------------------------------------------ checkpoints

    def save(self, output_dir: Path) -> None:
        """Write the EMA pipeline folder and ``train_state/`` (replaced as a whole, never half-written)."""
        from safetensors.torch import save_file

        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        tmp = output_dir / f".{STATE_DIR}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        save_file({k: v.detach().cpu().contiguous() for k, v in self.unwrapped.state_dict().items()}, tmp / "model.safetensors")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}, tmp / "ema.safetensors")
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        state = {
            "step": self.step,
            "data_rng": self.rng.bit_generator.state,
            "generator_state": self.generator.get_state().tolist(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "config": asdict(self.cfg),
            "model_config": dict(self.unwrapped.config),
        }
        (tmp / "state.json").write_text(json.dumps(state, default=str) + "\n")
        MotionPipeline(self.ema, training_scheduler()).save_pretrained(tmp / "pipeline")
        for name in ("model_index.json", "transformer", "scheduler"):
            _swap(tmp / "pipeline" / name, output_dir / name)
        shutil.rmtree(tmp / "pipeline")
        _swap(tmp, output_dir / STATE_DIR)

    def load(self, output_dir: Path) -> None:
        """Resume from ``output_dir/train_state`` (weights, EMA, optimiser, RNGs, step)."""
        from safetensors.torch import load_file

        state_dir = Path(output_dir) / STATE_DIR
        state = json.loads((state_dir / "state.json").read_text())
        self.unwrapped.load_state_dict(load_file(state_dir / "model.safetensors"))
        self.ema.load_state_dict(load_file(state_dir / "ema.safetensors"))
        self.optimizer.load_state_dict(torch.load(state_dir / "optimizer.pt", weights_only=True, map_location="cpu"))
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.rng.bit_generator.state = state["data_rng"]
        self.generator.set_state(torch.tensor(state["generator_state"], dtype=torch.uint8))
        self.step = int(state["step"])


def _swap(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst`` (file or folder), removing the old ``dst`` only after the move."""
    old = dst.with_name(f".{dst.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        dst.rename(old)
    src.rename(dst)
    if old.is_dir():
        shutil.rmtree(old)
    elif old.exists():
        old.unlink()


def _check_output(output_dir: Path, force: bool) -> None:
    """Refuse a non-empty folder that holds no run; with ``force`` remove a previous run (to start over)."""
    if (output_dir / STATE_DIR / "state.json").is_file():
        if force:
            shutil.rmtree(output_dir / STATE_DIR)
            for name in ("model_index.json", "transformer", "scheduler", LOG_FILE):
                p = output_dir / name
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
        return
    if output_dir.exists() and any(output_dir.iterdir()) and not force:
        raise InputError("exists and is not a train-hands folder", path=output_dir, hint="choose an empty folder or pass --force")


def train_hands(cfg: TrainHandsConfig, preset: Preset, force: bool = False, on_progress: Callable[[int, int], None] | None = None) -> dict:
    """Train (or resume) a Stage 1 MotionDiT on ``cfg.data_dir``; write the checkpoint to ``cfg.output_dir``.

    Returns:
        {"step", "loss" (mean of the last log interval), "output", "resumed_from"}.

    Raises:
        InputError: a bad dataset, a foreign output folder, a resumed run whose data changed width.
    """
    from accelerate import Accelerator

    output_dir = Path(cfg.output_dir)
    use_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    accelerator = Accelerator(mixed_precision="bf16" if use_bf16 else "no", cpu=not torch.cuda.is_available())
    window, context = preset.motion.window, preset.motion.context
    clips = load_clips(cfg.data_dir, preset)  # the data is checked before anything is written or removed
    if accelerator.is_main_process:  # one process clears (--force) or checks the folder; the others follow
        _check_output(output_dir, force)
        output_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    resume = (output_dir / STATE_DIR / "state.json").is_file()
    if resume:
        model_config = json.loads((output_dir / STATE_DIR / "state.json").read_text())["model_config"]
        model = MotionDiT.from_config(model_config)
        if model.config.audio_dim != clips[0].features.shape[1]:
            raise InputError(f"the run being resumed uses {model.config.audio_dim}-wide features, this dataset {clips[0].features.shape[1]}", path=cfg.data_dir)
    else:
        encoder, revision = dataset_encoder(cfg.data_dir, preset)
        stats = motion_statistics(clips, window)
        with torch.random.fork_rng(devices=[]):  # seeded initial weights without touching the global RNG
            torch.manual_seed(cfg.seed)
            model = MotionDiT_models[cfg.size](
                audio_dim=int(clips[0].features.shape[1]), window=window, context=context, style_names=tuple(cfg.styles),
                audio_encoder=encoder, audio_encoder_revision=revision, fps=float(preset.fps), **stats,
            )  # fmt: skip
    windows = MotionWindows(clips, model.config.window, model.config.context, list(model.config.style_names), lookahead=model.config.audio_lookahead)
    trainer = HandsTrainer(model, windows, cfg, accelerator)
    if resume:
        trainer.load(output_dir)
        logger.info("resuming %s at step %d", output_dir, trainer.step)
    resumed_from = trainer.step
    losses: list[float] = []
    t0 = time.perf_counter()
    main = accelerator.is_main_process
    while trainer.step < cfg.steps:
        losses.append(trainer.train_step())
        if main and (trainer.step % cfg.log_every == 0 or trainer.step == cfg.steps):
            record = {"step": trainer.step, "loss": float(np.mean(losses)), "lr": trainer.lr_schedule.get_last_lr()[0], "elapsed_s": round(time.perf_counter() - t0, 2)}
            with open(output_dir / LOG_FILE, "a") as f:
                f.write(json.dumps(record) + "\n")
            logger.info("step %d loss %.4f", trainer.step, record["loss"])
            last_loss, losses = record["loss"], []
        if trainer.step % cfg.save_every == 0 or trainer.step == cfg.steps:
            accelerator.wait_for_everyone()
            if main:
                trainer.save(output_dir)
        if on_progress is not None:
            on_progress(trainer.step, cfg.steps)
    if resumed_from >= cfg.steps:
        last_loss = float("nan")
        if main and not (output_dir / "model_index.json").exists():
            trainer.save(output_dir)
    return {"step": trainer.step, "loss": last_loss, "output": str(output_dir), "resumed_from": resumed_from}
