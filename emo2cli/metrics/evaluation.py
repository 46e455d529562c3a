"""The hands runner behind ``emo2 evaluate hands``; the video runner is in :mod:`~emo2cli.metrics.video_evaluation`.

It reads the files, calls the formula module :mod:`~emo2cli.metrics.hands`, resolves the FGD
encoder, and returns a :class:`~emo2cli.metrics.report.Report` in which every number carries its
protocol string; a missing network or extra gives an ``unavailable`` row instead of a number.
``evaluate_video`` and ``HAND_CONTROL`` are re-exported here for the CLI and older imports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emo2cli.config import Preset
from emo2cli.errors import InputError
from emo2cli.metrics.report import MetricResult, Report, unavailable
from emo2cli.metrics.video_evaluation import HAND_CONTROL, _pair, evaluate_video

__all__ = ["HAND_CONTROL", "evaluate_hands", "evaluate_video"]

logger = logging.getLogger(__name__)


def _audio_hash(meta: dict) -> str | None:
    for key in ("source_audio_sha256", "audio_sha256", "source_sha256"):
        if meta.get(key):
            return str(meta[key])
    return None


def evaluate_hands(
    generated: list[Path],
    references: list[Path],
    audio: list[Path],
    preset: Preset,
    fgd_encoder: str | None = None,
    on_progress: Callable | None = None,
) -> Report:
    """DIV, BA, PCK, FGD-kin and FGD of generated hands files (see :mod:`~emo2cli.metrics.hands`).

    Args:
        generated: ``.hands.npz`` files. Files whose ``meta`` names the same source audio hash
            are samples of one audio (DIV groups); without a hash all files form one group.
        references: ground-truth ``.hands.npz`` (one per generated file for PCK; any set for FGD).
        audio: the speech of each generated file (one for all, or one each) for BA.
        fgd_encoder: a ``train-fgd`` folder (else ``eval.fgd_encoder``).

    Raises:
        InputError: unreadable files, mismatched counts or frame rates.
    """
    from emo2cli.formats.hands import read_hands
    from emo2cli.metrics import hands as H

    cfg = preset.eval
    gen = [read_hands(p) for p in generated]
    ref = [read_hands(p) for p in references]
    gen_j = [H.joints_of(h) for h in gen]
    ref_j = [H.joints_of(h) for h in ref]
    results: list[MetricResult] = []
    series = [
        {"input": str(p), "fps": h.fps, "series": {"mean joint speed (m/s)": np.nanmean(H.joint_speed(j, h.fps, v), axis=1)}}
        for p, h, (j, v) in zip(generated, gen, gen_j)
    ]
    space = "42 hand joints (built-in FK), metres, body frame, frames with both hands valid"

    # DIV
    groups = [_audio_hash(h.meta) or "all" for h in gen]
    div_protocol = (
        f"DIV[{cfg.div_protocol}]: "
        + {
            "pairwise": "mean over sample pairs i<j of the same audio of mean|x_i - x_j| (DiffSHEG), mean over audios",
            "variance": "unbiased variance over samples of the same audio, L2 over xyz, sum over joints, mean over frames (TalkSHOW)",
            "l1": "sum over frames and dims of |x - clip mean| / total frames (EMAGE L1div)",
        }[cfg.div_protocol]
        + f"; {space}"
    )
    try:
        value = H.div([j[v] for j, v in gen_j], groups, cfg.div_protocol)
        results.append(MetricResult("DIV", value, div_protocol, details={"samples": len(gen), "groups": len(set(groups))}))
    except ValueError as e:
        results.append(
            unavailable("DIV", f"needs 2+ generated samples of the same audio ({e}; got {len(gen)} file(s))", div_protocol)
        )

    # BA
    sigma = cfg.ba_sigma_s or H.BA_PROTOCOLS[cfg.ba_protocol]["sigma_s"]
    order = cfg.ba_order if cfg.ba_protocol == "emage" else H.BA_PROTOCOLS[cfg.ba_protocol]["order"]
    ba_protocol = (
        f"BA[{cfg.ba_protocol}]: mean over audio beats (EMAGE librosa-onset rule, 16 kHz, hop 512) of exp(-d^2/2sigma^2), "
        f"d to the nearest motion beat; sigma {sigma} s; motion beats = argrelextrema order {order} minima of joint speed "
        f"> 0.1 x mean speed, per joint, mean over 42 joints; no end trimming; {space}"
    )
    if not audio:
        results.append(unavailable("BA", "needs the speech: pass --audio WAV (one for all, or one per hands file)", ba_protocol))
    else:
        from emo2cli.audio.load import load_audio
        from emo2cli.audio.onsets import emage_onset_times

        scores = []
        for h, (j, v), a in zip(gen, gen_j, _pair(audio, len(gen), "audio files")):
            beats = emage_onset_times(load_audio(a, 16000).samples, 16000)
            beats = beats[beats <= h.duration_s]
            if len(beats):
                scores.append(H.beat_alignment(j, h.fps, beats, cfg.ba_protocol, sigma, order, v))
        if scores:
            results.append(MetricResult("BA", float(np.mean(scores)), ba_protocol, details={"clips": len(scores)}))
        else:
            results.append(unavailable("BA", "no audio onsets found within the motion", ba_protocol))

    # PCK
    tau_text = (
        f"tau = {cfg.pck_threshold_m} m (absolute)"
        if cfg.pck_threshold_m
        else f"tau = {cfg.pck_relative} x reference wrist-to-middle-fingertip length"
    )
    pck_protocol = f"PCK: share of joints within tau of the reference, {tau_text}; {space}"
    if not ref:
        results.append(
            unavailable("PCK", "needs ground truth: pass --reference GT.hands.npz (one per generated file)", pck_protocol)
        )
    elif len(ref) not in (1, len(gen)):
        results.append(
            unavailable("PCK", f"needs one reference per generated file (got {len(ref)} for {len(gen)})", pck_protocol)
        )
    else:
        hits, taus, n = [], [], 0
        for h, r in zip(gen, _pair(ref, len(gen), "reference files")):
            if abs(h.fps - r.fps) > 1e-6:
                raise InputError(
                    f"frame rates differ: generated {h.fps} fps vs reference {r.fps} fps; PCK compares frame by frame"
                )
            t = min(h.num_frames, r.num_frames)
            from emo2cli.hands.skeleton import hands_joints

            valid = h.mask[:t] & r.mask[:t]
            if valid.any():
                share, tau = H.pck(hands_joints(h)[:t], hands_joints(r)[:t], valid, cfg.pck_relative, cfg.pck_threshold_m)
                hits.append(share * valid.sum())
                taus.append(tau)
                n += int(valid.sum())
        if n:
            results.append(
                MetricResult(
                    "PCK",
                    float(sum(hits) / n),
                    pck_protocol + f" (mean tau {np.mean(taus) * 100:.2f} cm)",
                    details={"tau_m": float(np.mean(taus)), "hand_frames": n},
                )
            )
        else:
            results.append(unavailable("PCK", "no frame where generated and reference hands are both valid", pck_protocol))

    # FGD-kin and FGD
    kin_protocol = "FGD-kin: Frechet distance of per-frame [42 joint positions (m); velocities (m/s)] (252-d), all valid frames, generated vs reference; not a paper's FGD"
    if not ref:
        results.append(unavailable("FGD-kin", "needs reference motion: pass --reference REF.hands.npz...", kin_protocol))
    else:
        value = H.fgd_kin([(j, h.fps, v) for h, (j, v) in zip(gen, gen_j)], [(j, r.fps, v) for r, (j, v) in zip(ref, ref_j)])
        results.append(MetricResult("FGD-kin", value, kin_protocol))
    encoder_ref = fgd_encoder or cfg.fgd_encoder
    fgd_protocol = (
        "FGD: Frechet distance of the train-fgd motion autoencoder's latents (one per 4 frames), generated vs reference"
    )
    if not encoder_ref:
        results.append(
            unavailable(
                "FGD",
                "needs an FGD encoder: train one with `emo2 train-fgd REF_DIR -o DIR`, pass --fgd-encoder DIR",
                fgd_protocol,
            )
        )
    elif not ref:
        results.append(unavailable("FGD", "needs reference motion: pass --reference REF.hands.npz...", fgd_protocol))
    else:
        from emo2cli.metrics.fgd_encoder import load_fgd_encoder

        encoder = load_fgd_encoder(encoder_ref)
        value = H.fgd([j[v] for j, v in gen_j], [j[v] for j, v in ref_j], encoder)
        results.append(MetricResult("FGD", value, fgd_protocol, weights=str(encoder_ref)))
    if on_progress:
        on_progress(1, 1)
    return Report("hands", [str(p) for p in generated], [str(p) for p in references], results, series)
