"""Hand-map sidecars: ``NAME.handmaps.json``, tag ``emo2.handmaps/1`` (DESIGN §2).

The sidecar records how the hands were placed on the portrait, so Stage 2, ``evaluate`` and a
re-render reproduce exactly the same pixels. Body-frame metres map to frame pixels as
``px = anchor_px + pixels_per_m * (x, -y)`` under the weak-perspective camera (the subject
faces the camera, so the body's +x, the subject's left, is the image's right; +y is up). See
:mod:`emo2cli.render.project` for both cameras.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from emo2cli.errors import InputError
from emo2cli.formats._tag import atomic_write_text, make_tag, read_tagged_json

KIND = "handmaps"
MAJOR = 1
FORMAT = make_tag(KIND, MAJOR)
SUFFIX = ".handmaps.mp4"
SIDECAR_SUFFIX = ".handmaps.json"


@dataclass(frozen=True)
class Placement:
    """Where the body frame sits in the output frame, and how the portrait was fitted to it.

    Attributes:
        frame_size: (H, W) pixels of the output frame.
        anchor_px: (x, y) pixel of the body-frame origin (neck base) in the output frame.
        pixels_per_m: scale at the body plane, pixels per metre.
        camera: "weak" (weak perspective) or "pinhole".
        focal_px: pinhole focal length in pixels (pinhole only).
        camera_distance_m: distance from the camera to the body plane (pinhole only).
        source: how the anchor was found: "pose", "face", "centre" or "manual".
        portrait_size: (H, W) of the source portrait, (0, 0) when there is none.
        fit_scale: portrait pixels → frame pixels scale of the crop/pad fit.
        fit_offset_px: (x, y) frame pixel of the portrait's top-left corner after scaling.
        shoulder_width_px: measured shoulder width in portrait pixels (0 when not measured).
    """

    frame_size: tuple[int, int]
    anchor_px: tuple[float, float]
    pixels_per_m: float
    camera: str = "weak"
    focal_px: float = 0.0
    camera_distance_m: float = 0.0
    source: str = "centre"
    portrait_size: tuple[int, int] = (0, 0)
    fit_scale: float = 1.0
    fit_offset_px: tuple[float, float] = (0.0, 0.0)
    shoulder_width_px: float = 0.0

    def __post_init__(self) -> None:
        if self.camera not in ("weak", "pinhole"):
            raise ValueError(f"camera must be 'weak' or 'pinhole', got {self.camera!r}")
        if self.pixels_per_m <= 0:
            raise ValueError(f"pixels_per_m must be positive, got {self.pixels_per_m}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, path: str | os.PathLike | None = None) -> Placement:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"placement has unknown keys {sorted(unknown)}", path=path)
        try:
            kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise InputError(f"invalid placement: {e}", path=path) from None


@dataclass
class HandMapsInfo:
    """The sidecar of a hand-map video or frame folder.

    Attributes:
        fps: frame rate, equal to the hands file's.
        num_frames: frame count, equal to the hands file's T.
        placement: the placement used for every frame.
        style: drawing style ("emo2" mesh-like maps, "keypoints", "echomimicv2", ...).
        hands_source: path of the hands file that was drawn.
        hands_sha256: its sha256.
        extra: renderer settings (palettes, hand model "builtin" or "mano", ...).
    """

    fps: float
    num_frames: int
    placement: Placement
    style: str = "emo2"
    hands_source: str = ""
    hands_sha256: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["placement"] = self.placement.to_dict()
        return {"format": FORMAT, **d}


def sidecar_path(path: str | os.PathLike) -> Path:
    """The sidecar of a hand-map video or frame folder.

    ``NAME.handmaps.mp4`` → ``NAME.handmaps.json``; any other video ``x.mp4`` → ``x.handmaps.json``;
    a frame folder ``DIR`` → ``DIR.handmaps.json``; a sidecar path is returned unchanged.
    """
    p = Path(path)
    if p.name.endswith(SIDECAR_SUFFIX):
        return p
    if p.name.endswith(SUFFIX):
        name = p.name[: -len(SUFFIX)]
    elif p.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".avi"):
        name = p.stem
    else:
        name = p.name
    return p.with_name(name + SIDECAR_SUFFIX)


def write_handmaps_info(info: HandMapsInfo, path: str | os.PathLike, force: bool = False) -> Path:
    out = sidecar_path(path)
    atomic_write_text(out, json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n", force=force)
    return out


def read_handmaps_info(path: str | os.PathLike) -> HandMapsInfo:
    """Read a hand-map sidecar (given the sidecar, the video, or the frame folder)."""
    p = sidecar_path(path)
    data = read_tagged_json(p, KIND, MAJOR, ("fps", "num_frames", "placement"))
    return HandMapsInfo(
        fps=float(data["fps"]),
        num_frames=int(data["num_frames"]),
        placement=Placement.from_dict(data["placement"], p),
        style=str(data.get("style", "emo2")),
        hands_source=str(data.get("hands_source", "")),
        hands_sha256=str(data.get("hands_sha256", "")),
        extra=dict(data.get("extra", {})),
    )
