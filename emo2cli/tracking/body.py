"""The body frame of every video frame, from mediapipe's pose landmarks (DESIGN §2).

Body frame: origin at the neck base (the shoulder midpoint), +x toward the subject's left
(along the shoulder line, right shoulder → left shoulder), +y up (the camera's up made
perpendicular to the shoulder line), +z = x × y, out of the chest toward the camera; metres,
scaled so the shoulder width is the neutral 0.36 m (one factor per video, from the median
measured width, which is kept in ``meta``). The camera's up is used rather than the hips,
because talking videos often cut the hips off; a forward lean therefore shows as wrists moving
forward and up, not as a tilted frame.

Camera: each frame gets a weak-perspective camera anchored at the shoulders: a camera-world
point ``P`` (mediapipe pose world axes: x right, y down, z away; metres) appears at
``anchor_px + pixels_per_m · (P - origin)[:2]``. ``pixels_per_m`` is the least-squares scale
between the upper-body pose landmarks' world and image positions. Wrist positions come from the
hand landmarker's wrist pixel back-projected through that camera (it sees the hand better than
the pose model does) with the depth of the pose model's wrist, so projecting a tracked wrist
gives back its pixel exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emo2cli.formats.handmaps import Placement
from emo2cli.render.placement import MIN_VISIBILITY, SHOULDER_WIDTH_M
from emo2cli.tracking.landmarks import LEFT_SHOULDER, POSE_WRISTS, RIGHT_SHOULDER, UPPER_BODY, LandmarkTrack

# camera-world axes (x right, y down, z away) → a body-like view frame (x right, y up, z toward the camera)
_CAMERA_TO_VIEW = np.diag([1.0, -1.0, -1.0])


@dataclass
class BodyCameras:
    """Per-frame camera and body frame (frames without a person hold the nearest frame's values).

    Attributes:
        origin_m: [T, 3] float64 shoulder midpoint, camera-world metres.
        rotation: [T, 3, 3] float64, columns = the body axes in camera-world axes
            (body = rotationᵀ · camera-world).
        anchor_px: [T, 2] float64 shoulder midpoint pixel.
        pixels_per_m: [T] float64 image pixels per camera-world metre.
        body_scale: neutral / measured shoulder width (body metres per camera-world metre).
        shoulder_width_m: measured shoulder width, median over frames (camera-world metres).
        person: [T] bool, frames where a person was found.
    """

    origin_m: np.ndarray
    rotation: np.ndarray
    anchor_px: np.ndarray
    pixels_per_m: np.ndarray
    body_scale: float
    shoulder_width_m: float
    person: np.ndarray

    def placement(self, t: int, frame_size: tuple[int, int]) -> tuple[Placement, np.ndarray]:
        """Frame ``t`` as a weak-camera Placement plus the [3, 3] rotation that turns body-frame
        points into the view axes that Placement projects (so tilted torsos draw correctly).

        Use: ``project_points(points_body @ R.T, placement)`` with ``(placement, R)`` returned.
        """
        placement = Placement(
            frame_size=(int(frame_size[0]), int(frame_size[1])),
            anchor_px=(float(self.anchor_px[t, 0]), float(self.anchor_px[t, 1])),
            pixels_per_m=float(self.pixels_per_m[t] / self.body_scale),
            camera="weak",
            source="pose",
        )
        return placement, _CAMERA_TO_VIEW @ self.rotation[t]


def _hold_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Frames where ``valid`` is false take the nearest valid frame's value (ties: the earlier)."""
    if valid.all() or not valid.any():
        return values
    index = np.flatnonzero(valid)
    t = np.arange(len(valid))
    right = np.clip(np.searchsorted(index, t), 0, len(index) - 1)
    left = np.clip(right - 1, 0, len(index) - 1)
    nearest = np.where(np.abs(index[left] - t) <= np.abs(index[right] - t), index[left], index[right])
    return values[nearest]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _pixels_per_m(world: np.ndarray, image: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """[T] least-squares scale between centred world xy and image positions of the upper body."""
    idx = list(UPPER_BODY)
    w = (visibility[:, idx] >= MIN_VISIBILITY).astype(np.float64)[..., None]  # [T, K, 1]
    w[:, :2] = 1.0  # the shoulders always count (they define the frame)
    n = w.sum(1, keepdims=True)
    x = world[:, idx, :2].astype(np.float64)
    y = image[:, idx].astype(np.float64)
    xc = x - (w * x).sum(1, keepdims=True) / n
    yc = y - (w * y).sum(1, keepdims=True) / n
    return (w * xc * yc).sum((1, 2)) / np.maximum((w * xc * xc).sum((1, 2)), 1e-12)


def body_cameras(track: LandmarkTrack) -> BodyCameras:
    """Body frame and weak camera of every frame of a landmark track."""
    person = track.person_found
    num_frames = track.num_frames
    if not person.any():
        eye = np.broadcast_to(_CAMERA_TO_VIEW, (num_frames, 3, 3)).copy()  # a frontal body facing the camera
        height, width = track.frame_size
        return BodyCameras(
            origin_m=np.zeros((num_frames, 3)),
            rotation=eye,
            anchor_px=np.tile([width / 2.0, height / 3.0], (num_frames, 1)),
            pixels_per_m=np.full(num_frames, max(width, 1) / 1.2),  # a 1.2 m wide view
            body_scale=1.0,
            shoulder_width_m=0.0,
            person=person,
        )
    world = track.pose_world.astype(np.float64)
    left, right = world[:, LEFT_SHOULDER], world[:, RIGHT_SHOULDER]
    x_axis = _unit(left - right)
    up = np.array([0.0, -1.0, 0.0])
    y_axis = _unit(up - np.sum(up * x_axis, -1, keepdims=True) * x_axis)
    rotation = np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)], axis=-1)
    width_m = float(np.median(np.linalg.norm(left - right, axis=-1)[person]))
    image = track.pose_image.astype(np.float64)
    return BodyCameras(
        origin_m=_hold_nearest(0.5 * (left + right), person),
        rotation=_hold_nearest(rotation, person),
        anchor_px=_hold_nearest(0.5 * (image[:, LEFT_SHOULDER] + image[:, RIGHT_SHOULDER]), person),
        pixels_per_m=_hold_nearest(_pixels_per_m(world, image, track.pose_visibility), person),
        body_scale=SHOULDER_WIDTH_M / max(width_m, 1e-6),
        shoulder_width_m=width_m,
        person=person,
    )


def wrists_in_body(track: LandmarkTrack, cameras: BodyCameras) -> np.ndarray:
    """Wrist positions of both hands in the body frame.

    Returns:
        [T, 2, 3] float64 metres (neutral shoulder width), NaN where the hand was not found.
    """
    wrist_px = track.hand_image[:, :, 0].astype(np.float64)  # [T, 2, 2]
    depth = track.pose_world[:, list(POSE_WRISTS), 2].astype(np.float64) - cameras.origin_m[:, None, 2]  # [T, 2]
    xy = (wrist_px - cameras.anchor_px[:, None]) / cameras.pixels_per_m[:, None, None]
    camera_offset = np.concatenate([xy, depth[..., None]], axis=-1)  # [T, 2, 3] camera-world, from the origin
    return cameras.body_scale * np.einsum("tji,thj->thi", cameras.rotation, camera_offset)


def lift_hand_landmarks(world: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Hand landmarks whose image-plane layout is the image landmarks' and whose bones keep the world lengths.

    mediapipe's hand world landmarks (metric, from the hand crop) and image landmarks (pixels)
    come from separate outputs and disagree now and then, mostly in how far a bone leans toward
    the camera; the image landmarks are the better-placed ones in the image plane. Here each
    joint takes its image position (in metres: the least-squares scale between the world and
    image layouts) and its depth is re-derived bone by bone from the world bone length, with the
    world landmarks' sign of the depth step: ``dz = ±sqrt(L² - |dxy|²)`` (0 when the bone looks
    longer in the image than in the world).

    Args:
        world: [..., 21, 3] hand world landmarks, camera-world axes (x right, y down, z away), metres.
        image: [..., 21, 2] the same hand's image landmarks, pixels.

    Returns:
        [..., 21, 3] float64 metres, camera-world axes, wrist at the origin.
    """
    from emo2cli.hands.skeleton import FINGER_CHAINS

    world = np.asarray(world, np.float64)
    world = world - world[..., :1, :]
    image = np.asarray(image, np.float64)
    image = image - image[..., :1, :]
    m_per_px = np.sum(world[..., :2] * image, axis=(-1, -2)) / np.maximum(np.sum(image * image, axis=(-1, -2)), 1e-12)
    out = np.zeros_like(world)
    out[..., :2] = image * m_per_px[..., None, None]
    for level in range(4):  # base to tip, all five fingers at once
        child = FINGER_CHAINS[:, level]
        parent = np.zeros(5, np.int64) if level == 0 else FINGER_CHAINS[:, level - 1]
        length = np.linalg.norm(world[..., child, :] - world[..., parent, :], axis=-1)
        planar = np.linalg.norm(out[..., child, :2] - out[..., parent, :2], axis=-1)
        step = np.sign(world[..., child, 2] - world[..., parent, 2]) * np.sqrt(np.maximum(length**2 - planar**2, 0.0))
        out[..., child, 2] = out[..., parent, 2] + step
    return out


def hand_landmarks_in_body(track: LandmarkTrack, cameras: BodyCameras) -> np.ndarray:
    """Hand landmarks (lifted onto the image, :func:`lift_hand_landmarks`) in body-frame axes.

    Rotation only: sizes stay the hand's own, the wrist is at the origin.

    Returns:
        [T, 2, 21, 3] float64 metres, NaN where the hand was not found.
    """
    lifted = lift_hand_landmarks(track.hand_world, track.hand_image)
    return np.einsum("tji,thkj->thki", cameras.rotation, lifted)


def body_to_pixels(points_body: np.ndarray, cameras: BodyCameras) -> np.ndarray:
    """Project body-frame points of every frame through that frame's camera.

    Args:
        points_body: [T, ..., 3] metres, body frame.

    Returns:
        [T, ..., 2] float64 pixels.
    """
    points = np.asarray(points_body, np.float64)
    extra = (1,) * (points.ndim - 2)
    rotation = cameras.rotation.reshape(len(points), *extra, 3, 3)
    camera = np.einsum("...ij,...j->...i", rotation, points) / cameras.body_scale
    ppm = cameras.pixels_per_m.reshape(len(points), *extra, 1)
    return cameras.anchor_px.reshape(len(points), *extra, 2) + ppm * camera[..., :2]
