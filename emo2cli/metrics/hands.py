"""Hand-motion metrics on the 42 hand joints (21 per hand, built-in forward kinematics).

Every metric here works on joint positions from :func:`emo2cli.hands.skeleton.hands_joints`
(``[T, 2, 21, 3]`` float32, metres, body frame, OpenPose order) and uses only frames whose hand
mask is true. Definitions (DESIGN §11, research note ``metrics.md`` §2):

- **DIV** (``div``), three named protocols:
  - ``pairwise`` (default; DiffSHEG ``trainers/ddpm_talkshow_trainer.py``, Ye et al. ECCV'22): for
    each group of samples generated for the same audio, the mean over sample pairs i < j of
    ``mean |x_i − x_j|`` (mean over frames, joints and xyz, metres), then the mean over groups;
  - ``variance`` (TalkSHOW ``scripts/test_body.py::body_loss``): per group, the unbiased variance
    over samples, L2 norm over xyz, sum over the 42 joints, mean over frames; mean over groups;
  - ``l1`` (EMAGE ``emage_evaltools/mertic.py::L1div``): within each clip, ``Σ_t Σ_d |x_t,d −
    mean_t x_d|``, summed over clips and divided by the total number of frames.
- **BA** (``beat_alignment``): ``mean over audio beats a of exp(−min_m (a − m)² / 2σ²)`` (EMAGE
  ``BC``, Bailando, TalkSHOW all average over the AUDIO beats), per joint, then the mean over the 42
  joints; a joint with no motion beat scores 0. Motion beats of a joint are local minima of its
  speed (central differences, ``scipy.signal.argrelextrema(np.less, order)``) whose speed exceeds
  0.1 × the joint's mean speed. ``emage``: σ = 0.3 s, order 7; ``talkshow``: σ = 0.1 s, order 1
  (a strict 3-frame minimum; TalkSHOW's arm-angle speeds do not exist for hands, so the same joint
  speeds are used). No end trimming (EMAGE trims 2 s at each end for long test clips).
- **PCK** (``pck``): share of (frame, hand, joint) triples, both hands valid in both files, whose
  distance to the reference joint is below τ; τ = ``relative`` × the reference hand's
  wrist-to-middle-fingertip length (:func:`~emo2cli.hands.skeleton.hand_length`), or an absolute τ.
- **FGD-kin** (``fgd_kin``): Fréchet distance of per-frame [positions (42×3, m) ; velocities
  (42×3, m/s)] over all valid frames of the generated vs the reference files. Named differently
  from FGD because no published motion encoder exists for MANO hands.
- **FGD** (``fgd``): Fréchet distance of latents of a motion autoencoder trained by
  ``emo2 train-fgd`` (:mod:`~emo2cli.metrics.fgd_encoder`), one latent per 4 frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emo2cli.metrics.frechet import frechet_distance_of_features

BA_PROTOCOLS: dict[str, dict] = {
    "emage": {"sigma_s": 0.3, "order": 7},
    "talkshow": {"sigma_s": 0.1, "order": 1},
}
DIV_PROTOCOLS = ("pairwise", "variance", "l1")
SPEED_FLOOR = 0.1  # motion beats need speed > this × the joint's mean speed (EMAGE's 0.1 of mean)


def joints_of(hands) -> tuple[np.ndarray, np.ndarray]:
    """(joints [T, 42, 3] float64 metres body frame, valid [T] bool: both hands' masks true)."""
    from emo2cli.hands.skeleton import hands_joints

    joints = hands_joints(hands).astype(np.float64)
    return joints.reshape(joints.shape[0], 42, 3), np.asarray(hands.mask).all(axis=1)


# ---------------------------------------------------------------------------------------------
# DIV
# ---------------------------------------------------------------------------------------------


def div(samples: Sequence[np.ndarray], groups: Sequence[int] | None = None, protocol: str = "pairwise") -> float:
    """Diversity of generated motion (see the module docstring for each protocol).

    Args:
        samples: per file [T_i, J, 3] joint positions (frames already restricted to valid ones;
            within a group the shortest length is used).
        groups: group id per sample (samples of the same audio share one); None = one group.
        protocol: ``pairwise`` | ``variance`` | ``l1``.

    Returns:
        DIV in metres (``pairwise``, ``l1``) or metres summed over joints (``variance``).

    Raises:
        ValueError: unknown protocol, or no group with two samples for pairwise/variance.
    """
    if protocol not in DIV_PROTOCOLS:
        raise ValueError(f"unknown DIV protocol {protocol!r}; known: {', '.join(DIV_PROTOCOLS)}")
    if protocol == "l1":
        total = sum(float(np.abs(x - x.mean(axis=0)).sum()) for x in samples)
        frames = sum(x.shape[0] for x in samples)
        return total / frames
    groups = list(groups) if groups is not None else [0] * len(samples)
    values = []
    for g in dict.fromkeys(groups):
        members = [x for x, gi in zip(samples, groups) if gi == g]
        if len(members) < 2:
            continue
        t = min(x.shape[0] for x in members)
        stack = np.stack([x[:t] for x in members])  # [S, t, J, 3]
        if protocol == "pairwise":
            i, j = np.triu_indices(len(members), k=1)
            values.append(float(np.mean([np.abs(stack[a] - stack[b]).mean() for a, b in zip(i, j)])))
        else:
            values.append(float(np.linalg.norm(stack.var(axis=0, ddof=1), axis=-1).sum(axis=-1).mean()))
    if not values:
        raise ValueError("DIV needs at least 2 generated samples of the same audio")
    return float(np.mean(values))


# ---------------------------------------------------------------------------------------------
# BA
# ---------------------------------------------------------------------------------------------


def joint_speed(joints: np.ndarray, fps: float, valid: np.ndarray | None = None) -> np.ndarray:
    """Speed of each joint: [T, J, 3] metres → [T, J] m/s (central differences, one-sided at the
    ends; NaN on invalid frames and their neighbours' differences)."""
    speed = np.linalg.norm(np.gradient(joints, 1.0 / fps, axis=0), axis=-1)
    if valid is not None:
        ok = valid.copy()
        ok[1:] &= valid[:-1]
        ok[:-1] &= valid[1:]
        speed[~ok] = np.nan
    return speed


def motion_beats(speed: np.ndarray, fps: float, order: int) -> list[np.ndarray]:
    """Per joint, the times in seconds of speed minima (argrelextrema order) above the speed floor.

    Args:
        speed: [T, J] m/s (NaN = invalid; never a beat).

    Returns:
        J arrays of beat times in seconds.
    """
    from scipy.signal import argrelextrema

    beats = []
    for j in range(speed.shape[1]):
        s = speed[:, j]
        if np.all(np.isnan(s)):
            beats.append(np.zeros(0))
            continue
        filled = np.where(np.isnan(s), np.inf, s)  # NaN never counts as a minimum
        idx = argrelextrema(filled, np.less, order=order)[0]
        idx = idx[s[idx] > SPEED_FLOOR * np.nanmean(s)]
        beats.append(idx / float(fps))
    return beats


def alignment_score(audio_beats_s: np.ndarray, motion_beats_s: np.ndarray, sigma_s: float) -> float:
    """mean over audio beats a of exp(−min_m (a − m)² / 2σ²); 0 when there is no motion beat."""
    audio_beats_s = np.asarray(audio_beats_s, np.float64)
    if audio_beats_s.size == 0:
        raise ValueError("no audio beats")
    if len(motion_beats_s) == 0:
        return 0.0
    d = np.abs(audio_beats_s[:, None] - np.asarray(motion_beats_s, np.float64)[None, :]).min(axis=1)
    return float(np.mean(np.exp(-(d**2) / (2 * sigma_s**2))))


def beat_alignment(
    joints: np.ndarray,
    fps: float,
    audio_beats_s: np.ndarray,
    protocol: str = "emage",
    sigma_s: float | None = None,
    order: int | None = None,
    valid: np.ndarray | None = None,
) -> float:
    """BA of one clip: the mean over the J joints of :func:`alignment_score` (module docstring).

    Args:
        joints: [T, J, 3] metres; fps: frame rate; audio_beats_s: [K] onset times in seconds.
        protocol: ``emage`` | ``talkshow`` (σ and order defaults); sigma_s / order override them.
        valid: [T] bool, frames to use.

    Returns:
        BA in [0, 1].
    """
    if protocol not in BA_PROTOCOLS:
        raise ValueError(f"unknown BA protocol {protocol!r}; known: {', '.join(BA_PROTOCOLS)}")
    sigma_s = sigma_s or BA_PROTOCOLS[protocol]["sigma_s"]
    order = order or BA_PROTOCOLS[protocol]["order"]
    beats = motion_beats(joint_speed(joints, fps, valid), fps, order)
    return float(np.mean([alignment_score(audio_beats_s, b, sigma_s) for b in beats]))


# ---------------------------------------------------------------------------------------------
# PCK
# ---------------------------------------------------------------------------------------------


def pck(
    joints: np.ndarray, reference: np.ndarray, valid: np.ndarray, relative: float = 0.1, threshold_m: float | None = None
) -> tuple[float, float]:
    """Percentage of correct keypoints (as a share in [0, 1]) and the τ used.

    Args:
        joints, reference: [T, 2, 21, 3] metres (same T).
        valid: [T, 2] bool, hand valid in both files.
        relative: τ = relative × the reference hand's wrist-to-middle-fingertip length.
        threshold_m: absolute τ in metres (overrides ``relative``).

    Returns:
        (PCK, mean τ in metres).
    """
    from emo2cli.hands.skeleton import hand_length

    if not valid.any():
        raise ValueError("no frame where both files have a valid hand")
    tau = np.full(valid.shape, threshold_m) if threshold_m is not None else relative * hand_length(reference)  # [T, 2]
    hit = np.linalg.norm(joints - reference, axis=-1) < tau[..., None]  # [T, 2, 21]
    return float(hit[valid].mean()), float(tau[valid].mean())


# ---------------------------------------------------------------------------------------------
# FGD-kin and FGD
# ---------------------------------------------------------------------------------------------


def kinematic_features(joints: np.ndarray, fps: float, valid: np.ndarray) -> np.ndarray:
    """[T, J, 3] metres → [N, 2·J·3] per valid frame: positions (m) and velocities (m/s)."""
    vel = np.gradient(joints, 1.0 / fps, axis=0)
    ok = valid.copy()
    ok[1:] &= valid[:-1]
    ok[:-1] &= valid[1:]
    return np.concatenate([joints, vel], axis=-1)[ok].reshape(int(ok.sum()), -1)


def fgd_kin(
    generated: Sequence[tuple[np.ndarray, float, np.ndarray]], reference: Sequence[tuple[np.ndarray, float, np.ndarray]]
) -> float:
    """FGD-kin of (joints [T, J, 3], fps, valid [T]) clips: generated vs reference."""
    a = np.concatenate([kinematic_features(*c) for c in generated])
    b = np.concatenate([kinematic_features(*c) for c in reference])
    if len(a) < 2 or len(b) < 2:
        raise ValueError("FGD-kin needs at least 2 valid frames on each side")
    return frechet_distance_of_features(a, b)


def fgd(generated: Sequence[np.ndarray], reference: Sequence[np.ndarray], encoder) -> float:
    """FGD with a trained :class:`~emo2cli.metrics.fgd_encoder.MotionAutoencoder`.

    Args:
        generated, reference: per clip [T, J, 3] joint positions of valid frames.
        encoder: the autoencoder; its ``latents(joints)`` gives [N, D] per clip.
    """
    a = np.concatenate([encoder.latents(x) for x in generated])
    b = np.concatenate([encoder.latents(x) for x in reference])
    return frechet_distance_of_features(a, b)
