"""The two evaluation runners behind ``emo2 evaluate hands`` and ``emo2 evaluate video``.

They read the files, call the formula modules (:mod:`~emo2cli.metrics.hands`, ``image``,
``video``, ``face``, ``hand_video``, ``sync``, and :mod:`~emo2cli.tracking.control` for hand
control), resolve each metric network through the weights
resolver, and return a :class:`~emo2cli.metrics.report.Report` in which every number carries its
protocol string; a missing network or extra gives an ``unavailable`` row instead of a number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emo2cli.config import Preset
from emo2cli.errors import InputError, MissingPrerequisite, require_file
from emo2cli.metrics.report import MetricResult, Report, metric_weights, unavailable

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Hands
# ---------------------------------------------------------------------------------------------


def _audio_hash(meta: dict) -> str | None:
    for key in ("source_audio_sha256", "audio_sha256", "source_sha256"):
        if meta.get(key):
            return str(meta[key])
    return None


def _pair(items: list, n: int, what: str) -> list:
    """One item for all n inputs, or one per input."""
    if len(items) == 1:
        return items * n
    if len(items) != n:
        raise InputError(f"got {len(items)} {what} for {n} inputs; give one, or one per input")
    return items


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


# ---------------------------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------------------------


def _frames(path: Path, fps: float | None = None) -> list[np.ndarray]:
    from emo2cli.formats.video import read_video_frames

    frames = list(read_video_frames(path, fps))
    if not frames:
        raise InputError("has no video frames", path=path)
    return frames


def _missing(e: MissingPrerequisite) -> str:
    """The unavailable-row reason for a missing extra or network: "needs X (how to get it)"."""
    return f"needs {e.message.removeprefix('needs ')}" + (f" ({e.hint})" if e.hint else "")


def _try(name: str, protocol: str, fn: Callable[[], MetricResult]) -> MetricResult:
    """Run one metric; a missing extra (mediapipe) becomes an unavailable row, not a failure."""
    try:
        return fn()
    except MissingPrerequisite as e:
        return unavailable(name, _missing(e), protocol)


def evaluate_video(
    generated: list[Path],
    references: list[Path],
    preset: Preset,
    portrait: Path | None = None,
    audio: list[Path] | None = None,
    networks: dict | None = None,
    on_progress: Callable | None = None,
    hands: list[Path] | None = None,
    handmaps: list[Path] | None = None,
) -> Report:
    """PSNR, SSIM, FID, FVD, CSIM, EFID(-mesh), HKC, HKV, hand control, Sync-C/D of generated videos.

    Per-video metrics are averaged over the videos (each video's own mean first); FID, FVD and
    EFID-mesh pool frames or clips over all videos. Each video is held in memory once.

    Args:
        generated: generated videos. references: reference videos (one for all, or one each).
        portrait: the identity image for CSIM (else each reference video's first face).
        audio: the speech for Sync (else each generated video's own audio track).
        networks: injected networks by ModelSpec name (tests: tiny random models of the same
            interface); missing names are resolved through the weights resolver.
        hands: the driving ``.hands.npz`` of each video (one for all, or one each): adds the
            hand-control rows (:mod:`~emo2cli.tracking.control`; tracks each video).
        handmaps: each video's ``.handmaps.json`` placement (one for all, or one each); default
            ``NAME.handmaps.json`` beside ``NAME.mp4``.

    Raises:
        InputError: unreadable inputs, mismatched counts, a missing or mismatched placement.
    """
    from emo2cli.metrics import face as FA
    from emo2cli.metrics import hand_video as HV
    from emo2cli.metrics import image as IM
    from emo2cli.metrics import video as VI

    cfg = preset.eval
    networks = dict(networks or {})
    if portrait is not None:
        require_file(portrait)
    refs = _pair(references, len(generated), "reference videos") if references else []
    driving = _driving_hands(generated, hands or [], handmaps or [])  # checked before any slow metric
    gen_frames = [_frames(p) for p in generated]
    ref_frames = {str(p): _frames(p) for p in dict.fromkeys(refs)}
    ref_of = [ref_frames[str(p)] for p in refs]
    series = [{"input": str(p), "fps": _fps(p), "series": {}} for p in generated]
    results: list[MetricResult] = []
    step = [0]
    total_steps = 8

    def tick() -> None:
        step[0] += 1
        if on_progress:
            on_progress(step[0], total_steps)

    def network(spec: str, loader: Callable[[Path], object]) -> tuple[object | None, str, str]:
        if spec in networks:
            return networks[spec], "injected test network", ""
        path, why = metric_weights(spec, preset)
        return (loader(path), str(path), "") if path is not None else (None, "", why)

    # PSNR / SSIM
    if not refs:
        for name, proto in (("PSNR", IM.PSNR_PROTOCOL), ("SSIM", IM.SSIM_PROTOCOL)):
            results.append(unavailable(name, "needs a reference video: pass --reference REF.mp4", proto))
    else:
        per = [IM.frame_pair_scores(g, r) for g, r in zip(gen_frames, ref_of)]
        for name, proto in (("PSNR", IM.PSNR_PROTOCOL), ("SSIM", IM.SSIM_PROTOCOL)):
            for s, scores in zip(series, per):
                s["series"][name] = scores[name]
            results.append(
                MetricResult(
                    name, float(np.mean([p[name].mean() for p in per])), proto, details={"frames": [len(p[name]) for p in per]}
                )
            )
    tick()

    # FID
    if not refs:
        results.append(unavailable("FID", "needs reference videos: pass --reference REF.mp4", IM.FID_PROTOCOL))
    else:
        from emo2cli.metrics.inception import load_fid_inception

        model, weights, why = network("fid_inception", load_fid_inception)
        if model is None:
            results.append(unavailable("FID", why, IM.FID_PROTOCOL))
        else:
            fg = np.concatenate([IM.image_features(f, model) for f in gen_frames])
            fr = np.concatenate([IM.image_features(f, model) for f in ref_frames.values()])
            results.append(
                MetricResult("FID", IM.compute_fid(fg, fr), IM.FID_PROTOCOL, weights, details={"frames": [len(fg), len(fr)]})
            )
    tick()

    # FVD
    fvd_protocol = VI.FVD_PROTOCOL.format(clip=cfg.fvd_clip_frames, gen="N", ref="M")
    if not refs:
        results.append(unavailable("FVD", "needs reference videos: pass --reference REF.mp4", fvd_protocol))
    else:
        from emo2cli.metrics.i3d import load_i3d

        model, weights, why = network("fvd_i3d", load_i3d)
        if model is None:
            results.append(unavailable("FVD", why, fvd_protocol))
        else:
            size = getattr(model, "input_size", 224)
            fg = VI.video_features(gen_frames, model, cfg.fvd_clip_frames, size)
            fr = VI.video_features(list(ref_frames.values()), model, cfg.fvd_clip_frames, size)
            proto = VI.FVD_PROTOCOL.format(clip=cfg.fvd_clip_frames, gen=len(fg), ref=len(fr))
            results.append(MetricResult("FVD", VI.compute_fvd(fg, fr), proto, weights, details={"clips": [len(fg), len(fr)]}))
    tick()

    # CSIM
    embedder, weights, why = network("face_identity", FA.SFaceEmbedder)
    if embedder is None:
        results.append(unavailable("CSIM[sface]", why, FA.CSIM_PROTOCOL))
    elif portrait is None and not refs:
        results.append(
            unavailable("CSIM[sface]", "needs the identity: pass --portrait IMG or --reference REF.mp4", FA.CSIM_PROTOCOL)
        )
    else:
        if portrait is not None:
            from PIL import Image

            ref_embs = [FA.reference_embedding([np.asarray(Image.open(portrait).convert("RGB"))], embedder, portrait)] * len(
                generated
            )
        else:
            ref_embs = [FA.reference_embedding(r, embedder, p) for r, p in zip(ref_of, refs)]
        sims = [FA.face_similarity(g, e, embedder) for g, e in zip(gen_frames, ref_embs)]
        for s, sim in zip(series, sims):
            s["series"]["CSIM[sface]"] = sim
        missing = [int(np.isnan(s).sum()) for s in sims]
        means = [float(np.nanmean(s)) for s in sims if not np.all(np.isnan(s))]
        if means:
            results.append(
                MetricResult(
                    "CSIM[sface]",
                    float(np.mean(means)),
                    FA.CSIM_PROTOCOL,
                    weights,
                    details={"frames_without_face": missing, "identity": str(portrait or "reference video")},
                )
            )
        else:
            results.append(unavailable("CSIM[sface]", "no face found in any generated frame", FA.CSIM_PROTOCOL))
    tick()

    # EFID (3DMM) and EFID-mesh
    path, why = metric_weights("expression_3dmm", preset)
    efid_protocol = "EFID: Frechet distance of Deep3DFaceRecon 3DMM expression coefficients (64-d), generated vs reference frames"
    results.append(
        unavailable(
            "EFID",
            (why if path is None else f"unavailable: {path} is there")
            + "; this version has no Deep3DFaceRecon loader yet, so EFID-mesh stands in",
            efid_protocol,
        )
    )

    def efid_mesh() -> MetricResult:
        if not refs:
            return unavailable("EFID-mesh", "needs reference videos: pass --reference REF.mp4", FA.EFID_MESH_PROTOCOL)
        fg = np.concatenate([FA.expression_features(FA.face_mesh_landmarks(g)) for g in gen_frames])
        fr = np.concatenate([FA.expression_features(FA.face_mesh_landmarks(r)) for r in ref_frames.values()])
        if len(fg) < 2 or len(fr) < 2:
            return unavailable("EFID-mesh", "fewer than 2 frames with a face on one side", FA.EFID_MESH_PROTOCOL)
        from emo2cli.metrics.frechet import frechet_distance_of_features

        return MetricResult(
            "EFID-mesh",
            frechet_distance_of_features(fg, fr),
            FA.EFID_MESH_PROTOCOL,
            "mediapipe 0.10.14 bundled face mesh",
            details={"frames_with_face": [len(fg), len(fr)]},
        )

    results.append(_try("EFID-mesh", FA.EFID_MESH_PROTOCOL, efid_mesh))
    tick()

    # HKC / HKV
    hkv_protocol = HV.HKV_PROTOCOL.format(min_conf=cfg.hand_min_confidence)

    def hand_metrics() -> list[MetricResult]:
        tracks = [HV.detect_hands(g) for g in gen_frames]
        for s, t in zip(series, tracks):
            s["series"]["HKC[mp-handedness]"] = t.score.mean(axis=1)
        found = [t.found_share.round(3).tolist() for t in tracks]
        out = [
            MetricResult(
                "HKC[mp-handedness]",
                float(np.mean([HV.hkc(t.score) for t in tracks])),
                HV.HKC_PROTOCOL,
                "mediapipe 0.10.14 bundled hand landmarker",
                details={"share_of_frames_with_hand_left_right": found},
            )
        ]
        try:
            out.append(
                MetricResult(
                    "HKV[mp]",
                    float(np.mean([HV.hkv(t.keypoints, t.score, cfg.hand_min_confidence) for t in tracks])),
                    hkv_protocol,
                    "mediapipe 0.10.14 bundled hand landmarker",
                )
            )
        except ValueError as e:
            out.append(unavailable("HKV[mp]", str(e), hkv_protocol))
        return out

    try:
        results += hand_metrics()
    except MissingPrerequisite as e:
        results += [
            unavailable(n, _missing(e), p) for n, p in (("HKC[mp-handedness]", HV.HKC_PROTOCOL), ("HKV[mp]", hkv_protocol))
        ]
    tick()

    # HCE-2D / HC-PCK / HCE-angle / HC-detect
    results += _hand_control_rows(generated, driving, preset, series)
    tick()

    # Sync-C / Sync-D
    results += _sync_rows(generated, audio, preset, networks, network, series)
    tick()
    return Report("video", [str(p) for p in generated], [str(p) for p in refs], results, series)


HAND_CONTROL = ("HCE-2D", "HC-PCK", "HCE-angle", "HC-detect")


def _driving_hands(generated: list[Path], hands: list[Path], handmaps: list[Path]) -> list[tuple]:
    """[(driving HandMotion, Placement)] per generated video; [] without ``hands``."""
    if not hands:
        if handmaps:
            raise InputError("--handmaps is the placement for --hands: pass the driving hands file too")
        return []
    from emo2cli.formats.handmaps import read_handmaps_info, sidecar_path
    from emo2cli.formats.hands import read_hands
    from emo2cli.formats.video import probe_video

    hands = _pair(hands, len(generated), "hands files")
    maps = _pair(handmaps, len(generated), "handmaps files") if handmaps else [sidecar_path(v) for v in generated]
    read = {str(p): read_hands(p) for p in dict.fromkeys(hands)}
    out = []
    for video, driving, sidecar in zip(generated, hands, maps):
        info = probe_video(video)
        if not handmaps and not sidecar.is_file():
            raise InputError(
                "not found: hand control needs the placement the video was drawn with",
                path=sidecar,
                hint="pass --handmaps NAME.handmaps.json (gen-video and render-hands write it)",
            )
        placement = read_handmaps_info(sidecar).placement
        if (info.height, info.width) != tuple(placement.frame_size):
            height, width = placement.frame_size
            raise InputError(
                f"is {info.width}x{info.height} pixels, but the placement {sidecar} is for {width}x{height}",
                path=video,
                hint="pass the --handmaps file this video was made with",
            )
        out.append((read[str(driving)], placement))
    return out


def _hand_control_rows(generated: list[Path], driving: list[tuple], preset: Preset, series: list[dict]) -> list[MetricResult]:
    """HCE-2D, HC-PCK, HCE-angle, HC-detect (:mod:`~emo2cli.tracking.control`), mean over the videos."""
    from emo2cli.tracking.control import PROTOCOL, hand_control

    protocol = PROTOCOL.format(tau=preset.eval.pck_relative)
    if not driving:
        return [unavailable(n, "needs the driving hands: pass --hands DRIVING.hands.npz", protocol) for n in HAND_CONTROL]
    try:
        per_video = [hand_control(video, hands, placement, preset) for video, (hands, placement) in zip(generated, driving)]
    except MissingPrerequisite as e:
        return [unavailable(n, _missing(e), protocol) for n in HAND_CONTROL]
    for s, (hands, _), result in zip(series, driving, per_video):
        name = "HCE-2D" if abs(hands.fps - s["fps"]) < 1e-6 else f"HCE-2D (per frame, {hands.fps:g} fps)"
        s["series"][name] = np.asarray(result["per_frame_hce"], np.float64)
    rows = []
    for name in HAND_CONTROL:
        values = [r[name] for r in per_video if r[name] is not None]
        if not values:
            why = "no frame where a driving hand is valid" + ("" if name == "HC-detect" else " and the tracker saw it")
            rows.append(unavailable(name, why, protocol))
            continue
        details = {"per_video": [r[name] for r in per_video], "hand_frames": [r["frames"] for r in per_video]}
        weights = "mediapipe 0.10.14 bundled pose + hand landmarkers (emo2 track-hands)"
        rows.append(MetricResult(name, float(np.mean(values)), per_video[0]["protocol"], weights, details=details))
    return rows


def _fps(path: Path) -> float:
    from emo2cli.formats.video import probe_video

    return probe_video(path).fps


def _sync_rows(
    generated: list[Path], audio: list[Path] | None, preset: Preset, networks: dict, network: Callable, series: list[dict]
) -> list[MetricResult]:
    from emo2cli.metrics import face as FA
    from emo2cli.metrics import sync as SY

    model, weights, why = network("syncnet", SY.load_syncnet)
    detector, _, why_face = network("face_identity", FA.SFaceEmbedder)
    if model is None or detector is None:
        reason = why or why_face
        return [unavailable("Sync-C", reason, SY.SYNC_PROTOCOL), unavailable("Sync-D", reason, SY.SYNC_PROTOCOL)]
    from emo2cli.audio.load import load_audio
    from emo2cli.formats.video import probe_video

    scores = []
    for i, path in enumerate(generated):
        source = _pair(audio, len(generated), "audio files")[i] if audio else path
        if not audio and not probe_video(path).has_audio:
            return [
                unavailable(n, f"needs the speech: {path} has no audio track; pass --audio WAV", SY.SYNC_PROTOCOL)
                for n in ("Sync-C", "Sync-D")
            ]
        result = SY.lip_sync(model, _frames(path, 25.0), load_audio(source, 16000).samples, detector.detect)
        # one confidence per 5-frame window at 25 fps; the plot maps it onto the video's frames
        series[i]["series"]["Sync-C (per window, 25 fps)"] = result["per_window_confidence"]
        scores.append(result)
    details = {"offset_frames": [s["offset"] for s in scores], "frames_without_face": [s["frames_without_face"] for s in scores]}
    return [
        MetricResult("Sync-C", float(np.mean([s["Sync-C"] for s in scores])), SY.SYNC_PROTOCOL, weights, details=details),
        MetricResult("Sync-D", float(np.mean([s["Sync-D"] for s in scores])), SY.SYNC_PROTOCOL, weights, details=details),
    ]
