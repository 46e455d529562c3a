"""The FGD feature encoder: a small 1-D convolutional motion autoencoder on the 42 hand joints.

No published motion encoder exists for MANO hands (EMAGE's ``VAESKConv`` reads 55-joint SMPL-X
rot6d, TalkSHOW's ``feature_extractor.pth`` its own body format), so FGD here is the Fréchet
distance of this encoder's latents, trained by ``emo2 train-fgd`` on the user's reference motion.
A score is comparable only between runs that use the same encoder folder; the JSON names it.

Input per frame: the 42 joints' positions (126 values, metres, body frame), standardised by the
training set's per-channel mean and std (stored as buffers, so they travel with the weights).
The encoder halves time twice: one ``latent_dim`` vector per 4 frames is one FGD sample.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from emo2cli.errors import InputError

logger = logging.getLogger(__name__)

IN_DIM = 42 * 3


class MotionAutoencoder(ModelMixin, ConfigMixin):
    """[B, T, 126] positions → [B, T/4, latent_dim] latents → [B, T, 126] reconstruction."""

    @register_to_config
    def __init__(self, in_dim: int = IN_DIM, hidden_dim: int = 128, latent_dim: int = 64, window: int = 32):
        super().__init__()
        act = nn.SiLU
        self.encoder = nn.Sequential(
            nn.Conv1d(in_dim, hidden_dim, 3, padding=1), act(),
            nn.Conv1d(hidden_dim, hidden_dim, 4, stride=2, padding=1), act(),
            nn.Conv1d(hidden_dim, hidden_dim, 4, stride=2, padding=1), act(),
            nn.Conv1d(hidden_dim, latent_dim, 3, padding=1),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv1d(latent_dim, hidden_dim, 3, padding=1), act(),
            nn.ConvTranspose1d(hidden_dim, hidden_dim, 4, stride=2, padding=1), act(),
            nn.ConvTranspose1d(hidden_dim, hidden_dim, 4, stride=2, padding=1), act(),
            nn.Conv1d(hidden_dim, in_dim, 3, padding=1),
        )  # fmt: skip
        self.register_buffer("feature_mean", torch.zeros(in_dim))
        self.register_buffer("feature_std", torch.ones(in_dim))

    def initialize_weights(self, generator: torch.Generator) -> None:
        """Re-draw every conv weight (PyTorch's default Kaiming-uniform rule) from ``generator``
        and zero the biases, so a seed alone fixes the initial model."""
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.kaiming_uniform_(module.weight, a=5**0.5, generator=generator)
                nn.init.zeros_(module.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, in_dim] metres (T a multiple of 4) → [B, T/4, latent_dim]."""
        z = (x - self.feature_mean) / self.feature_std
        return self.encoder(z.transpose(1, 2)).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction in standardised units, [B, T, in_dim]."""
        return self.decoder(self.encode(x).transpose(1, 2)).transpose(1, 2)

    def latents(self, joints: np.ndarray) -> np.ndarray:
        """FGD samples of one clip: [T, 42, 3] metres → [N, latent_dim] float64, in windows of
        ``window`` frames (the clip is cut into whole windows; a shorter clip is one window cut to
        a multiple of 4)."""
        x = np.asarray(joints, np.float32).reshape(len(joints), -1)
        w = self.config.window if len(x) >= self.config.window else (len(x) // 4) * 4
        if w < 4:
            raise ValueError(f"clip of {len(x)} valid frames is too short for the FGD encoder (needs >= 4)")
        windows = x[: (len(x) // w) * w].reshape(-1, w, x.shape[1])
        with torch.no_grad():
            z = self.encode(torch.from_numpy(windows).to(self.device))
        return z.reshape(-1, z.shape[-1]).double().cpu().numpy()


def load_fgd_encoder(path: str | os.PathLike) -> MotionAutoencoder:
    """Load a ``train-fgd`` folder (config.json + safetensors).

    Raises:
        InputError: not such a folder.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError("is not an FGD encoder folder (no config.json)", path=path, hint="make one with `emo2 train-fgd`")
    try:
        return MotionAutoencoder.from_pretrained(path).eval()
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"cannot load the FGD encoder ({e})", path=path) from None


def collect_windows(hands_files: list[Path], window: int) -> np.ndarray:
    """Training windows [N, window, 126] float32 from every frame run where both hands are valid."""
    from emo2cli.formats.hands import read_hands
    from emo2cli.metrics.hands import joints_of

    out = []
    for f in hands_files:
        joints, valid = joints_of(read_hands(f))
        flat = joints.reshape(len(joints), -1).astype(np.float32)
        start = 0
        for t in range(len(valid) + 1):
            if t == len(valid) or not valid[t]:
                run = flat[start:t]
                step = max(1, window // 2)  # half-overlapping windows
                out += [run[s : s + window] for s in range(0, len(run) - window + 1, step)]
                start = t + 1
    if not out:
        raise InputError(
            f"no run of {window} valid frames in {len(hands_files)} hands file(s)",
            hint="give longer clips or a smaller eval.fgd_window",
        )
    return np.stack(out)


def train_fgd(
    data_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    window: int = 32,
    steps: int = 2000,
    seed: int = 0,
    batch_size: int = 32,
    lr: float = 1e-3,
    force: bool = False,
    on_progress: Callable[[float, float], None] | None = None,
) -> dict:
    """Train the FGD autoencoder on every ``*.hands.npz`` under ``data_dir``; save it to ``output_dir``.

    Returns:
        {"files", "windows", "steps", "loss_first", "loss_last", "output"}.

    Raises:
        InputError: no hands files, no long-enough valid run, or ``output_dir`` exists without force.
    """
    from emo2cli.formats._tag import refuse_overwrite

    data_dir, output_dir = Path(data_dir), Path(output_dir)
    if not data_dir.is_dir():
        raise InputError("no such folder", path=data_dir)
    files = sorted(data_dir.rglob("*.hands.npz"))
    if not files:
        raise InputError("holds no *.hands.npz files", path=data_dir)
    if (output_dir / "config.json").exists():
        refuse_overwrite(output_dir / "config.json", force)
    windows = torch.from_numpy(collect_windows(files, window))
    gen = torch.Generator().manual_seed(seed)
    model = MotionAutoencoder(window=window)
    model.initialize_weights(gen)
    flat = windows.reshape(-1, windows.shape[-1])
    model.feature_mean.copy_(flat.mean(0))
    model.feature_std.copy_(flat.std(0).clamp_min(1e-4))
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    model.train()
    for step in range(steps):
        idx = torch.randint(len(windows), (min(batch_size, len(windows)),), generator=gen)
        x = windows[idx]
        target = (x - model.feature_mean) / model.feature_std
        loss = torch.nn.functional.mse_loss(model(x), target)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss.detach()))
        if on_progress:
            on_progress(step + 1, steps)
    model.eval()
    tmp = output_dir.with_name(f".{output_dir.name}.tmp")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    record = {
        "files": len(files),
        "windows": len(windows),
        "steps": steps,
        "seed": seed,
        "loss_first": losses[0],
        "loss_last": float(np.mean(losses[-20:])),
    }
    (tmp / "training.json").write_text(
        json.dumps({**record, "data_dir": str(data_dir), "sources": [str(f) for f in files]}, indent=2)
    )
    if output_dir.exists():
        shutil.rmtree(output_dir)
    os.replace(tmp, output_dir)
    logger.info(
        "FGD encoder: %d windows from %d files, loss %.4f → %.4f", len(windows), len(files), losses[0], record["loss_last"]
    )
    return {**record, "output": str(output_dir)}
