"""The video runner behind ``emo2 evaluate video``.

It reads the videos, calls the formula modules (:mod:`~emo2cli.metrics.image`, ``video``,
``face``, ``hand_video``, ``sync``, and :mod:`~emo2cli.tracking.control` for hand control),
resolves each metric network through the weights resolver, and returns a
:class:`~emo2cli.metrics.report.Report` in which every number carries its protocol string; a
missing network or extra gives an ``unavailable`` row instead of a number.
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


def _pair(items: list, n: int, what: str) -> list:
    """One item for all n inputs, or one per input."""
    if len(items) == 1:
        return items * n
    if len(items) != n:
        raise InputError(f"got {len(items)} {what} for {n} inputs; give one, or one per input")
    return items


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
