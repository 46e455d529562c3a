"""``emo2 inspect`` backend: summaries and PNG plots of any intermediate file.

Not named ``inspect.py`` (stdlib clash). Supports hands files, audio feature tables and hand-map
sidecars; a plot shows what a person wants to see at a glance (wrists over time, finger flexion,
the mask, audio onsets when the source audio can be found).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError
from emo2cli.formats import features as features_fmt
from emo2cli.formats import handmaps as handmaps_fmt
from emo2cli.formats import hands as hands_fmt
from emo2cli.formats.hands import HandMotion

logger = logging.getLogger(__name__)

HAND_NAMES = ("left", "right")
# MANO finger-joint order (DESIGN §11) for labelling flexion rows.
FINGER_JOINTS = [f"{f}{i}" for f in ("index", "middle", "pinky", "ring", "thumb") for i in (1, 2, 3)]


def file_kind(path: str | os.PathLike) -> str:
    """"hands", "features", "handmaps" or raise InputError for anything else."""
    name = Path(path).name
    if name.endswith(hands_fmt.SUFFIX) or name.endswith(".npz"):
        return "hands"
    if name.endswith((features_fmt.SUFFIX, features_fmt.SIDECAR_SUFFIX)):
        return "features"
    if name.endswith((handmaps_fmt.SUFFIX, handmaps_fmt.SIDECAR_SUFFIX)):
        return "handmaps"
    raise InputError(
        "unknown file kind: expected NAME.hands.npz, NAME.feats.npy/.json or NAME.handmaps.mp4/.json", path=path
    )


def summarize(path: str | os.PathLike) -> dict:
    """A JSON-ready summary of one intermediate file (tag and meta first)."""
    kind = file_kind(path)
    if kind == "hands":
        return summarize_hands(hands_fmt.read_hands(path))
    if kind == "features":
        return summarize_features(features_fmt.read_features(path))
    info = handmaps_fmt.read_handmaps_info(path)
    return {"format": handmaps_fmt.FORMAT, **{k: v for k, v in info.to_dict().items() if k != "format"}}


def finger_flexion_deg(hands: HandMotion) -> np.ndarray:
    """[T, 2, 15] rotation angle of each finger joint relative to its parent, degrees."""
    return np.degrees(np.linalg.norm(hands.hand_pose.astype(np.float64), axis=-1))


def wrist_speed_m_s(hands: HandMotion) -> np.ndarray:
    """[T-1, 2] wrist speed in m/s between consecutive frames (NaN where either frame is masked)."""
    speed = np.linalg.norm(np.diff(hands.transl.astype(np.float64), axis=0), axis=-1) * hands.fps
    valid = hands.mask[1:] & hands.mask[:-1]
    return np.where(valid, speed, np.nan)


def summarize_hands(hands: HandMotion) -> dict:
    speed = wrist_speed_m_s(hands)
    flex = finger_flexion_deg(hands)
    per_hand = {}
    for h, name in enumerate(HAND_NAMES):
        valid = hands.mask[:, h]
        pos = hands.transl[valid, h].astype(np.float64)
        s = speed[:, h][np.isfinite(speed[:, h])]
        f = flex[valid, h]
        per_hand[name] = {
            "valid_fraction": round(float(valid.mean()), 4),
            "wrist_mean_m": np.round(pos.mean(0), 4).tolist() if len(pos) else None,
            "wrist_range_m": np.round(np.ptp(pos, axis=0), 4).tolist() if len(pos) else None,
            "wrist_speed_mean_m_s": round(float(s.mean()), 4) if len(s) else None,
            "wrist_speed_p95_m_s": round(float(np.percentile(s, 95)), 4) if len(s) else None,
            "finger_flexion_deg_min": round(float(f.min()), 2) if f.size else None,
            "finger_flexion_deg_max": round(float(f.max()), 2) if f.size else None,
        }
    return {
        "format": hands_fmt.FORMAT,
        "meta": hands.meta,
        "fps": hands.fps,
        "frames": hands.num_frames,
        "duration_s": round(hands.duration_s, 3),
        "optional_keys": ["score"] if hands.score is not None else [],
        "hands": per_hand,
    }


def summarize_features(feats: features_fmt.AudioFeatures) -> dict:
    f = feats.features.reshape(feats.num_frames, -1)
    return {
        "format": features_fmt.FORMAT,
        "encoder": feats.encoder,
        "encoder_revision": feats.encoder_revision,
        "fps": feats.fps,
        "frames": feats.num_frames,
        "dim": feats.dim,
        "shape": list(feats.features.shape),
        "duration_s": round(feats.duration_s, 3),
        "sample_rate": feats.sample_rate,
        "source": feats.source,
        "source_sha256": feats.source_sha256,
        "value_mean": round(float(f.mean()), 4),
        "value_std": round(float(f.std()), 4),
        "extra": feats.extra,
    }


def _source_audio(meta: dict, near: Path) -> Path | None:
    """The audio a file was made from, when its meta names one that still exists."""
    for key in ("source_audio", "source"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            for candidate in (Path(value), near.parent / Path(value).name):
                if candidate.is_file() and not candidate.name.endswith((".npz", ".npy", ".json")):
                    return candidate
    return None


def _onset_times(audio: Path, fps: float) -> np.ndarray | None:
    try:
        from emo2cli.audio.load import load_audio
        from emo2cli.audio.onsets import detect_onsets
    except ImportError:
        return None
    try:
        wave = load_audio(audio)
    except InputError as e:  # e.g. a silent video named as the source: plot without onsets
        logger.info("no onsets drawn: %s", e)
        return None
    return detect_onsets(wave.samples, wave.sample_rate, fps=fps).times_s


def plot(path: str | os.PathLike, png: str | os.PathLike, force: bool = False) -> Path:
    """Draw a PNG of ``path`` (hands or features); written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emo2cli.formats._tag import atomic_path

    path = Path(path)
    kind = file_kind(path)
    if kind == "hands":
        fig = _plot_hands(hands_fmt.read_hands(path), path, plt)
    elif kind == "features":
        fig = _plot_features(features_fmt.read_features(path), path, plt)
    else:
        raise InputError("hand-map files have no plot; look at the video itself", path=path)
    with atomic_path(png, force) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(png)


def _plot_hands(hands: HandMotion, path: Path, plt) -> object:
    t = np.arange(hands.num_frames) / hands.fps
    fig, axes = plt.subplots(5, 1, figsize=(11, 10.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 2.2, 1.6, 1.6, 0.5]})
    fig.suptitle(f"{path.name}  ({hands.num_frames} frames, {hands.fps:g} fps, producer {hands.meta.get('producer', '?')})", fontsize=11)
    colours = ("tab:red", "tab:green", "tab:blue")
    for h, name in enumerate(HAND_NAMES):
        ax = axes[h]
        pos = np.where(hands.mask[:, h, None], hands.transl[:, h], np.nan)
        for axis, c in enumerate(colours):
            ax.plot(t, pos[:, axis], color=c, lw=1.2, label="xyz"[axis])
        ax.set_ylabel(f"{name} wrist (m)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", ncol=3, fontsize=8)
    flex = finger_flexion_deg(hands)
    for h, name in enumerate(HAND_NAMES):
        ax = axes[2 + h]
        data = np.where(hands.mask[:, h, None], flex[:, h], np.nan).T
        im = ax.imshow(data, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=max(90, np.nanmax(flex) if np.isfinite(flex).any() else 90),
                       extent=(t[0], t[-1] + 1 / hands.fps, -0.5, 14.5), interpolation="nearest")
        ax.set_yticks(range(0, 15, 3), [FINGER_JOINTS[i][:-1] for i in range(0, 15, 3)], fontsize=7)
        ax.set_ylabel(f"{name} flexion")
        fig.colorbar(im, ax=ax, pad=0.01, label="deg")
    ax = axes[4]
    ax.imshow(hands.mask.T.astype(float), aspect="auto", origin="lower", cmap="RdYlGn", vmin=-0.2, vmax=1.2,
              extent=(t[0], t[-1] + 1 / hands.fps, -0.5, 1.5), interpolation="nearest")
    ax.set_yticks([0, 1], ["left", "right"], fontsize=7)
    ax.set_ylabel("mask")
    ax.set_title("mask: green = valid, red = missing", fontsize=8, loc="left")
    ax.set_xlabel("time (s)")
    audio = _source_audio(hands.meta, path)
    onsets = _onset_times(audio, hands.fps) if audio else None
    if onsets is not None:
        for ax in axes[:2]:
            for x in onsets:
                ax.axvline(x, color="0.6", lw=0.6, ls=":")
        axes[0].set_title(f"dotted: audio onsets of {audio.name}", fontsize=8, loc="left")
    # the colourbars shrink the heat-map axes: align the line plots with them
    fig.tight_layout()
    for ax in (axes[0], axes[1], axes[4]):
        box, ref = ax.get_position(), axes[2].get_position()
        ax.set_position([box.x0, box.y0, ref.width, box.height])
    return fig


def _plot_features(feats: features_fmt.AudioFeatures, path: Path, plt) -> object:
    f = feats.features.reshape(feats.num_frames, -1)
    t_end = feats.num_frames / feats.fps
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    fig.suptitle(f"{path.name}  ({feats.encoder}, {feats.num_frames} × {feats.dim}, {feats.fps:g} fps)", fontsize=11)
    z = (f - f.mean(0)) / (f.std(0) + 1e-6)
    axes[0].imshow(z.T, aspect="auto", origin="lower", cmap="viridis", vmin=-3, vmax=3, extent=(0, t_end, -0.5, f.shape[1] - 0.5))
    axes[0].set_ylabel("feature (z-scored)")
    energy = np.linalg.norm(z, axis=1) / np.sqrt(z.shape[1])
    axes[1].plot(np.arange(feats.num_frames) / feats.fps, energy, lw=1)
    axes[1].set_ylabel("mean |z|")
    axes[1].set_xlabel("time (s)")
    audio = _source_audio({"source": feats.source}, path)
    onsets = _onset_times(audio, feats.fps) if audio else None
    if onsets is not None:
        for x in onsets:
            axes[1].axvline(x, color="0.5", lw=0.6, ls=":")
    fig.tight_layout()
    return fig
