"""Stage 2 training clips, the reading side: the manifest record, ``read_manifest``, and the samples training draws.

The folder is written by :mod:`emo2cli.video.data` (``emo2 prepare-video``; its docstring has the
layout). A manifest line (``emo2.video_clip/1``) holds the clip's id, source video and its sha256,
first frame, frame count, fps, size, the paths of its files, the sha256 of each file, the share of
frames with a valid hand, the audio encoder and feature width, and the preset's name and hash.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emo2cli.errors import InputError
from emo2cli.formats._tag import check_tag, make_tag

CLIP_FORMAT = make_tag("video_clip", 1)
MANIFEST = "manifest.jsonl"
_FILES = ("video", "audio", "feats", "hands", "handmaps", "body")


# ---------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipRecord:
    """One manifest line: a prepared clip.

    Attributes:
        clip: id, ``NAME/0003``.
        source: the source video (as given) and ``source_sha256`` its bytes' hash.
        start_frame: first frame of the clip in the source, on the preset's frame grid.
        num_frames: F, frames in the clip (every file of the clip has F frames / rows).
        fps: frame rate; height, width: frame size in pixels.
        files: kind ("video", "audio", "feats", "hands", "handmaps", "body") → path relative to
            the data folder (no "body" without mediapipe).
        sha256: kind → hex sha256 of that file.
        hand_coverage: share of frames with at least one valid hand.
        audio_encoder, audio_dim: the feature encoder and the width of one feature row.
        preset, preset_sha256: the preset the clip was made with.
    """

    clip: str
    source: str
    source_sha256: str
    start_frame: int
    num_frames: int
    fps: float
    height: int
    width: int
    files: dict
    sha256: dict
    hand_coverage: float
    audio_encoder: str
    audio_dim: int
    preset: str = ""
    preset_sha256: str = ""

    def to_dict(self) -> dict:
        return {"format": CLIP_FORMAT, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict, where: Path) -> ClipRecord:
        if not isinstance(data, dict) or "format" not in data:
            raise InputError("a manifest line has no 'format' key (not an emo2 clip record)", path=where)
        kind, major = "video_clip", 1
        check_tag(data["format"], kind, major, where)
        known = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(known - set(data) - {"preset", "preset_sha256"})
        if missing:
            raise InputError(f"a manifest line lacks keys {missing}", path=where)
        return cls(**{k: v for k, v in data.items() if k in known})

    def path(self, data_dir: Path, kind: str) -> Path | None:
        rel = self.files.get(kind)
        return data_dir / rel if rel else None


def read_manifest(data_dir: str | os.PathLike, check_files: bool = True) -> list[ClipRecord]:
    """Every clip of a prepared folder, in manifest order.

    Raises:
        InputError: no manifest (not a prepare-video folder), an unreadable line, a missing clip
            file, or clips that disagree on fps, frame size or audio features.
    """
    data_dir = Path(data_dir)
    path = data_dir / MANIFEST
    if not path.is_file():
        raise InputError(f"has no {MANIFEST}", path=data_dir, hint="make the folder with `emo2 prepare-video VIDEOS... -o DIR`")
    clips = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"line {n} is not valid JSON ({e})", path=path) from None
        clips.append(ClipRecord.from_dict(data, path))
    if not clips:
        raise InputError("lists no clips", path=path, hint="prepare-video skipped every clip: see its report")
    if check_files:
        for clip in clips:
            for kind in clip.files:
                if not clip.path(data_dir, kind).is_file():
                    raise InputError(
                        f"clip {clip.clip}: its {kind} file is missing",
                        path=clip.path(data_dir, kind),
                        hint="rerun prepare-video with --force",
                    )
    first = clips[0]
    for clip in clips[1:]:
        for key in ("fps", "height", "width", "audio_encoder", "audio_dim"):
            if getattr(clip, key) != getattr(first, key):
                raise InputError(
                    f"clips disagree on {key}: {first.clip} has {getattr(first, key)!r}, {clip.clip} {getattr(clip, key)!r}",
                    path=path,
                    hint="prepare every video with the same preset",
                )
    return clips


# ---------------------------------------------------------------------------------------------
# Training samples
# ---------------------------------------------------------------------------------------------


def read_frames(path: Path, start: int, count: int) -> np.ndarray:
    """Frames [start, start + count) of a clip video: [count, H, W, 3] uint8."""
    from emo2cli.formats.video import read_video_frames

    frames = list(itertools.islice(read_video_frames(path), start, start + count))
    if len(frames) < count:
        raise InputError(
            f"has {start + len(frames)} frames, {start + count} needed", path=path, hint="rerun prepare-video with --force"
        )
    return np.stack(frames)


def read_body(path: Path | None, size: tuple[int, int]) -> np.ndarray:
    """A clip's body map as [H, W] float32 in [0, 1]; zeros without one (the empty channel of inference)."""
    if path is None:
        return np.zeros(size, np.float32)
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError("is not a readable PNG", path=path)
    return image.astype(np.float32) / 255.0


class ClipSamples:
    """Random training samples from prepared clips, indexed by a sample number (a map-style torch Dataset).

    Sample ``i`` depends only on (``seed``, ``rank``, ``i``): a resumed run, or a run with data
    loader workers, draws exactly the samples an uninterrupted run would.

    Args:
        data_dir: the prepared folder; clips: its manifest records.
        num_frames: F frames per sample (1 for the image phase; motion + new frames for the video phase).
        window_radius: r, audio rows on each side of a frame that the audio layers read.
        seed, rank: the run's seed and this process's index.

    A sample (numpy) is:
        ``reference`` [H, W, 3] uint8, a random frame of the clip (another frame than the target
        in the image phase); ``frames`` [F, H, W, 3] uint8; ``hand_maps`` [F, H, W, 3] uint8;
        ``body`` [H, W] float32; ``audio`` [F + 2r, D] (or [F + 2r, K, D]) float32, the clip's feature rows from r
        before the first frame to r after the last, edge-clamped at the clip's ends;
        ``clip`` int64, the clip's index.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        clips: list[ClipRecord],
        num_frames: int,
        window_radius: int = 0,
        seed: int = 0,
        rank: int = 0,
    ):
        self.data_dir = Path(data_dir)
        self.clips = [c for c in clips if c.num_frames >= max(num_frames, 2)]
        if not self.clips:
            longest = max(c.num_frames for c in clips)
            raise InputError(
                f"no clip has the {num_frames} frames a sample needs (the longest has {longest})",
                path=self.data_dir,
                hint="prepare the videos with a larger --clip-frames, or lower video.clip_frames / motion_frames",
            )
        self.num_frames = num_frames
        self.window_radius = window_radius
        self.seed = seed
        self.rank = rank

    def __len__(self) -> int:
        return 2**62

    def features(self, k: int) -> np.ndarray:
        """Clip ``k``'s feature table: [T, D] (or [T, K, D]) float32."""
        return np.load(self.clips[k].path(self.data_dir, "feats"), allow_pickle=False).astype(np.float32)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.rank, int(index)])
        k = int(rng.integers(len(self.clips)))
        clip = self.clips[k]
        n = clip.num_frames
        start = int(rng.integers(0, n - self.num_frames + 1))
        if self.num_frames == 1:  # image phase: a reference frame other than the target
            ref = int(rng.integers(0, n - 1))
            ref += ref >= start
        else:
            ref = int(rng.integers(0, n))
        lo, hi = min(start, ref), max(start + self.num_frames, ref + 1)
        frames = read_frames(clip.path(self.data_dir, "video"), lo, hi - lo)
        maps = read_frames(clip.path(self.data_dir, "handmaps"), start, self.num_frames)
        r = self.window_radius
        rows = np.clip(np.arange(start - r, start + self.num_frames + r), 0, n - 1)
        return {
            "reference": frames[ref - lo],
            "frames": frames[start - lo : start - lo + self.num_frames],
            "hand_maps": maps,
            "body": read_body(clip.path(self.data_dir, "body"), (clip.height, clip.width)),
            "audio": self.features(k)[rows],
            "clip": np.int64(k),
        }
