"""The weight-free rules gesture generator: audio onsets → both hands' motion (DESIGN §3, last bullet).

The default of ``gen-hands`` when no Stage 1 checkpoint resolves. It reads only the audio's
onsets and loudness (:func:`emo2cli.audio.onsets.detect_onsets`), so it needs the audio samples,
not a feature table: ``emo2cli.motion.generate`` loads the source audio for it.

The rules, after the gesture-phase model of McNeill and Kendon (preparation, stroke, hold,
retraction) as used by rule-based co-speech systems (BEAT, Cassell et al. 2001):

1. **Speech and pauses**: a frame is voiced when its loudness is within 30 dB of the clip's
   95th percentile (and above -60 dBFS); gaps under 0.3 s are closed. Unvoiced runs of 0.5 s or
   more are pauses: a hand that has time retracts to rest in them.
2. **Strokes on stressed syllables**: voiced onsets are ranked by strength × loudness gain (a
   louder syllable is a stressed one) and taken greedily, strongest first, at least
   ``spacing_s / tempo`` apart; the weakest quarter is never used.
3. **Hands**: each stroke goes to the right hand, the left hand or both (style shares, drawn per
   seed); a hand still busy with its previous stroke passes the stroke to the other hand or drops
   it. Consecutive strokes of one hand within a phrase tend to keep their gesture kind (a gesture
   unit of repeated beats or presenting gestures; a point is not repeated).
4. **Phases**, per stroke, as keyframes: depart (the hand leaves its hold or rest), preparation
   end (hand raised and drawn back), **stroke end at the onset time** (the apex, where the hand's
   speed is at a minimum: the visual beat), hold, then either the next stroke's preparation or a
   retraction to the rest pose when a pause comes or the next stroke is more than
   :data:`STAY_S` / tempo after a retraction would end. Keyframes are joined
   with minimum-jerk easing (10u³ - 15u⁴ + 6u⁵) for positions and slerp for rotations, so speed is
   zero exactly at each keyframe and smooth elsewhere.
5. **Kinds and finger shapes**: ``beat`` (a short downward flick, relaxed curl), ``open`` (palm
   turns up and moves out: presenting), ``point`` (index extended, the others curled, forward).
6. **Amplitude** from loudness: stroke length × clip(10^((dB - median)/40), 0.6, 1.6).
   **Tempo** from speed: r = speed / the style's typical speed; phase durations and stroke spacing
   divide by clip(√r, 0.5, 2), amplitude multiplies by clip(r^¼, 0.6, 1.6). The typical speeds
   are what this generator produces on speech at speed None, so ``--speed`` means roughly the
   same (variance of wrist translation, cm², summed over x, y, z) as for a checkpoint.
7. **Independence**: each hand has its own random stream (positions, shapes, small timing
   jitter, a slow idle drift of a few millimetres); everything comes from ``seed``.
8. **Limits**: finger rotations are clipped to :data:`emo2cli.hands.limits.FINGER_LIMITS_RAD`,
   wrists to :data:`~emo2cli.hands.limits.ARM_REACH_M` of their shoulder, kept at least
   :data:`TORSO_FRONT_Z_M` in front of the body (never through the torso) and :data:`MIDLINE_M`
   on their own side of the midline (never through each other). Keyframes keep a further margin
   (:data:`KEY_MARGIN_M`), so these clips rarely act and the path stays smooth.

Gesture-space positions and durations are design values, checked by eye on plots and rendered
hand maps, not fitted to data.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from emo2cli.errors import InputError
from emo2cli.formats.hands import HandMotion
from emo2cli.hands.limits import ARM_REACH_M, clip_hand_pose, clip_reach
from emo2cli.hands.rest import REST_WRIST_M, rest_finger_pose, rest_pose, wrist_rotation
from emo2cli.hands.rotations import (
    axis_angle_to_matrix,
    axis_angle_to_quat,
    matrix_to_quat,
    mirror_axis_angle,
    quat_to_axis_angle,
    slerp,
)

TORSO_FRONT_Z_M = 0.10  # wrists stay this far in front of the neck-base plane (the chest surface)
MIDLINE_M = 0.025  # ... and this far on their own side of the body's midline (hands never pass through each other)
VOICED_RANGE_DB = 30.0
MIN_GAP_CLOSED_S = 0.3
PAUSE_S = 0.5
IDLE_DRIFT_M = 0.004
KEY_MARGIN_M = 0.04  # keyframes stay this far inside the reach and torso limits
FOLLOW_THROUGH = 0.35  # the hold travels this share of the stroke length on
HOLD_DRIFT_M = 0.03  # a hand waiting in gesture space drifts at most this far
STAY_S = 1.2  # a hand stays in gesture space when its next stroke starts within retraction + this


@dataclass(frozen=True)
class GestureStyle:
    """Parameters of one named style (right-hand values; the left hand mirrors x).

    Attributes:
        amplitude_m: stroke length at median loudness, metres.
        spacing_s: least time between two strokes at tempo 1.
        prep_s, stroke_s, hold_s, retract_s: phase durations at tempo 1, seconds.
        centre_m: right wrist's gesture-space centre, body frame, metres.
        spread_m: half-size of the box the apex wanders in around the centre.
        both_hands: share of strokes made with both hands.
        right_hand: share of one-hand strokes made with the right hand.
        kinds: gesture kind → weight.
        typical_speed_cm2: variance of wrist translation this style produces (cm², x + y + z).
    """

    amplitude_m: float
    spacing_s: float
    prep_s: float
    stroke_s: float
    hold_s: float
    retract_s: float
    centre_m: tuple[float, float, float]
    spread_m: tuple[float, float, float]
    both_hands: float
    right_hand: float
    kinds: dict = field(default_factory=dict)
    typical_speed_cm2: float = 40.0


STYLES: dict[str, GestureStyle] = {
    "talk": GestureStyle(0.07, 0.35, 0.35, 0.16, 0.22, 0.5, (-0.15, -0.25, 0.30), (0.05, 0.05, 0.04), 0.25, 0.6,
                         {"beat": 0.55, "open": 0.3, "point": 0.15}, 120.0),
    "lecture": GestureStyle(0.10, 0.4, 0.35, 0.18, 0.28, 0.55, (-0.17, -0.19, 0.32), (0.06, 0.06, 0.05), 0.3, 0.6,
                            {"beat": 0.35, "open": 0.35, "point": 0.3}, 190.0),
    "sing": GestureStyle(0.09, 0.6, 0.5, 0.28, 0.45, 0.7, (-0.2, -0.2, 0.30), (0.06, 0.05, 0.04), 0.45, 0.55,
                         {"beat": 0.2, "open": 0.7, "point": 0.1}, 150.0),
}  # fmt: skip

# Right-hand (fingers, palm) directions at the preparation end and at the apex, and the stroke's
# direction of travel, per kind (body frame; +x is the subject's left, so "inward" is +x).
_KINDS = {
    "beat": {"prep": ((0.35, 0.2, 0.92), (0.55, -0.8, 0.0)), "apex": ((0.35, -0.3, 0.89), (0.5, -0.85, 0.15)), "stroke": (0.0, -1.0, 0.25)},
    "open": {"prep": ((0.2, 0.1, 0.97), (0.7, 0.3, 0.0)), "apex": ((-0.3, 0.0, 0.95), (0.15, 0.95, 0.2)), "stroke": (-0.55, -0.25, 0.8)},
    "point": {"prep": ((0.3, 0.35, 0.88), (0.8, -0.5, 0.0)), "apex": ((0.2, 0.0, 0.98), (0.8, -0.6, 0.0)), "stroke": (0.1, -0.35, 0.95)},
}
_REST_KIND = "rest"


def _finger_shape(kind: str, rng: np.random.Generator) -> np.ndarray:
    """[15, 3] right-hand finger axis-angle (MANO order index, middle, pinky, ring, thumb) for a kind."""
    pose = np.zeros((15, 3))
    if kind == _REST_KIND:
        return rest_finger_pose()[1].astype(np.float64)
    if kind == "open":
        flex = np.array([[0.08, 0.12, 0.08]] * 4)
        spread = (0.12, 0.0, -0.18, -0.08)  # index, middle, pinky, ring: fan the fingers out
        thumb = (0.0, 0.1, 0.1)
    elif kind == "point":
        flex = np.array([[0.05, 0.05, 0.03], [1.25, 1.5, 0.9], [1.35, 1.6, 0.95], [1.3, 1.55, 0.9]])
        spread = (0.05, 0.0, 0.0, 0.0)
        thumb = (0.35, 0.6, 0.5)  # folded over the curled fingers
    else:  # beat: a relaxed curl, graded toward the little finger
        flex = np.array([[0.4, 0.55, 0.3], [0.45, 0.6, 0.35], [0.55, 0.7, 0.4], [0.5, 0.65, 0.38]])
        spread = (0.05, 0.0, -0.08, -0.04)
        thumb = (0.15, 0.3, 0.2)
    flex = flex * rng.uniform(0.85, 1.15, size=(4, 1))  # each finger a little different
    pose[:12, 2] = flex.ravel()
    pose[0:12:3, 1] = spread  # abduction about the palm normal, MCP joints only
    pose[12:15, 2] = thumb
    return pose


def _orientation(fingers, palm, rng: np.random.Generator, jitter: float = 0.08) -> np.ndarray:
    """[3, 3] right-hand wrist rotation for a (fingers, palm) pair, with a little random variation."""
    return wrist_rotation(np.asarray(fingers) + rng.normal(0, jitter, 3), np.asarray(palm) + rng.normal(0, jitter, 3))


def _feasible(pos: np.ndarray) -> np.ndarray:
    """A right wrist keyframe moved inside the reachable space with a margin, so the interpolated
    path rarely needs the final clip (which would put a kink in it)."""
    pos = clip_reach(np.stack([pos * np.array([-1.0, 1.0, 1.0]), pos]), reach_m=ARM_REACH_M - KEY_MARGIN_M)[1]
    pos[2] = max(pos[2], TORSO_FRONT_Z_M + KEY_MARGIN_M)
    pos[0] = min(pos[0], -MIDLINE_M - KEY_MARGIN_M)
    return pos


@dataclass
class _Keys:
    """Keyframes of one hand, right-hand convention (mirrored at the end for the left hand)."""

    times: list = field(default_factory=list)
    pos: list = field(default_factory=list)
    orient: list = field(default_factory=list)  # [3, 3]
    fingers: list = field(default_factory=list)  # [15, 3]
    vel: list = field(default_factory=list)  # [3] wrist velocity at the key, m/s (0 = a stop)

    def add(self, t: float, pos, orient, fingers, vel=(0.0, 0.0, 0.0), exact: bool = False) -> None:
        if self.times and t <= self.times[-1] + 1e-3:
            t = self.times[-1] + 1e-3
        self.times.append(float(t))
        self.vel.append(np.asarray(vel, np.float64))
        self.pos.append(np.asarray(pos, np.float64) if exact else _feasible(np.asarray(pos, np.float64)))
        self.orient.append(np.asarray(orient, np.float64))
        self.fingers.append(np.asarray(fingers, np.float64))

    def repeat_last(self, t: float) -> None:
        self.add(t, self.pos[-1], self.orient[-1], self.fingers[-1])  # a stop: velocity 0


@dataclass
class _Stroke:
    time_s: float
    gain: float  # loudness gain (amplitude multiplier)
    phrase: int
    hands: tuple[int, ...] = ()  # 0 left, 1 right
    kind: str = "beat"


def voiced_frames(loudness_db: np.ndarray, fps: float) -> np.ndarray:
    """[T] bool: frames of speech (rule 1 of the module docstring)."""
    loudness_db = np.asarray(loudness_db, np.float64)
    if loudness_db.size == 0:
        return np.zeros(0, bool)
    threshold = max(-60.0, float(np.percentile(loudness_db, 95)) - VOICED_RANGE_DB)
    voiced = loudness_db > threshold
    gap = round(MIN_GAP_CLOSED_S * fps)
    idx = np.flatnonzero(voiced)
    for a, b in itertools.pairwise(idx):  # close short gaps between voiced frames
        if 1 < b - a <= gap:
            voiced[a:b] = True
    return voiced


def _phrases(voiced: np.ndarray, fps: float) -> np.ndarray:
    """[T] int phrase id per frame: -1 inside pauses (unvoiced runs of PAUSE_S or more), else the phrase's index."""
    phrase = np.full(len(voiced), -1)
    pause = np.zeros(len(voiced), bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[1], voiced.astype(np.int8), [1]])))  # starts/ends of unvoiced runs
    for a, b in zip(edges[0::2], edges[1::2]):
        if b - a >= PAUSE_S * fps:
            pause[a:b] = True
    current = 0
    for i in range(len(voiced)):
        if pause[i]:
            if i + 1 < len(voiced) and not pause[i + 1]:
                current += 1
            continue
        phrase[i] = current
    return phrase


def _plan(onsets, num_frames: int, fps: float, params: GestureStyle, tempo: float, rng: np.random.Generator) -> tuple[list[_Stroke], np.ndarray]:
    """Stroke times (rule 2), their hands and kinds (rule 3); also returns the per-frame phrase ids."""
    loud = np.asarray(onsets.loudness, np.float64)[:num_frames]
    loud = np.pad(loud, (0, num_frames - len(loud)), constant_values=-100.0)
    voiced = voiced_frames(loud, fps)
    phrase = _phrases(voiced, fps)
    ref_db = float(np.median(loud[voiced])) if voiced.any() else 0.0
    times = np.asarray(onsets.times_s, np.float64)
    frames = np.clip(np.rint(times * fps).astype(int), 0, num_frames - 1) if num_frames else np.zeros(0, int)
    lead = params.prep_s / tempo * 0.5 + params.stroke_s / tempo  # the first stroke needs time to prepare
    keep = voiced[frames] & (times >= lead) & (times <= num_frames / fps) if len(times) else np.zeros(0, bool)
    times, frames = times[keep], frames[keep]
    strength = np.asarray(onsets.strength, np.float64)[keep] if len(onsets.strength) else np.zeros(0)
    gain = np.clip(10 ** ((loud[frames] - ref_db) / 40.0), 0.6, 1.6)
    score = strength * gain
    chosen: list[int] = []
    if len(score):
        floor = np.percentile(score, 25)
        spacing = params.spacing_s / tempo
        for k in np.argsort(-score, kind="stable"):
            if score[k] < floor and chosen:
                break
            if all(abs(times[k] - times[j]) >= spacing for j in chosen):
                chosen.append(int(k))
    strokes = [_Stroke(float(times[k]), float(gain[k]), int(phrase[frames[k]])) for k in sorted(chosen)]

    # Hands and kinds (rule 3): a hand is free once its previous stroke's hold is over.
    busy_until = [-np.inf, -np.inf]
    last_kind = [None, None]
    last_phrase = [-2, -2]
    kinds, weights = zip(*params.kinds.items())
    weights = np.asarray(weights) / np.sum(weights)
    need = (params.stroke_s + 0.1) / tempo  # time a hand needs between its hold end and the next apex
    planned = []
    for s in strokes:
        free = [h for h in (0, 1) if s.time_s - busy_until[h] >= need]
        if not free:
            continue
        if rng.random() < params.both_hands and len(free) == 2:
            hands = (0, 1)
        else:
            want = 1 if rng.random() < params.right_hand else 0
            hands = (want,) if want in free else (free[0],)
        lead_hand = hands[-1]
        if last_kind[lead_hand] not in (None, "point") and last_phrase[lead_hand] == s.phrase and rng.random() < 0.6:
            kind = last_kind[lead_hand]  # same gesture unit: repeat the beat or the presenting gesture
        else:
            kind = str(rng.choice(kinds, p=weights))
        s.hands, s.kind = hands, kind
        for h in hands:
            busy_until[h] = s.time_s + params.hold_s / tempo
            last_kind[h], last_phrase[h] = kind, s.phrase
        planned.append(s)
    return planned, phrase


def _hand_keys(hand: int, strokes: list[_Stroke], phrase: np.ndarray, fps: float, params: GestureStyle, tempo: float,
               amp: float, start, rng: np.random.Generator) -> _Keys:
    """Keyframes of one hand (rule 4), right-hand convention."""
    rest_orient = axis_angle_to_matrix(rest_pose()[0][1])
    rest_pos = REST_WRIST_M[1].astype(np.float64)
    rest_fingers = _finger_shape(_REST_KIND, rng)
    prep, stroke, hold, retract = (d / tempo for d in (params.prep_s, params.stroke_s, params.hold_s, params.retract_s))
    stroke = max(stroke, 0.1)
    keys = _Keys()
    if start is None:
        keys.add(0.0, rest_pos, rest_orient, rest_fingers)
    else:
        keys.add(0.0, *start, exact=True)  # continue exactly where the given motion ends
    mine = [s for s in strokes if hand in s.hands]
    centre = np.asarray(params.centre_m)
    spread = np.asarray(params.spread_m)
    apex_offset = rng.uniform(-1, 1, 3) * spread
    for i, s in enumerate(mine):
        shape = _KINDS[s.kind]
        tau = s.time_s + rng.normal(0, 0.01)  # a hand is never exactly on the syllable
        # Apex: wander in the gesture space (a gesture unit drifts, a new one jumps); louder = higher.
        apex_offset = 0.5 * apex_offset + 0.5 * rng.uniform(-1, 1, 3) * spread
        apex = centre + apex_offset + np.array([0.0, 0.03 * (s.gain - 1.0), 0.0])
        direction = np.asarray(shape["stroke"], np.float64)
        direction /= np.linalg.norm(direction)
        length = params.amplitude_m * amp * s.gain * rng.uniform(0.8, 1.2)
        prep_pos = apex - length * direction
        fingers = _finger_shape(s.kind, rng)
        depart = max(tau - stroke - prep, keys.times[-1] + 0.02)
        gap = depart - keys.times[-1]
        if gap > 0.05:
            if np.any(keys.vel[-1]):  # after a hold: drift on slowly (at most HOLD_DRIFT_M) until the preparation
                along = keys.vel[-1] / np.linalg.norm(keys.vel[-1])
                reach = min(np.linalg.norm(keys.vel[-1]) * gap, HOLD_DRIFT_M)
                keys.add(depart, keys.pos[-1] + reach * along, keys.orient[-1], keys.fingers[-1], vel=reach / gap * along)
            else:
                keys.repeat_last(depart)  # at rest until the preparation begins
        if tau - stroke - depart > 0.08:  # the preparation flows into the stroke without stopping
            keys.add(tau - stroke, prep_pos, _orientation(*shape["prep"], rng), fingers, vel=0.4 * length / stroke * direction)
        # The hold drifts on along the stroke (follow-through), speeding up slightly: the apex is
        # the speed minimum (the visual beat) without a dead stop, as in captured motion.
        hold_pos = apex + FOLLOW_THROUGH * length * direction + rng.normal(0, 0.003, 3)
        drift = (hold_pos - apex) / hold
        keys.add(tau, apex, _orientation(*shape["apex"], rng), fingers, vel=0.8 * drift)
        keys.add(tau + hold, hold_pos, keys.orient[-1], fingers, vel=1.2 * drift)
        # Retract when the next stroke is far, or a pause lies between.
        nxt = mine[i + 1] if i + 1 < len(mine) else None
        end = tau + hold
        if nxt is None:
            far = True
        else:
            next_depart = nxt.time_s - stroke - prep
            t0, t1 = int(end * fps), int(nxt.time_s * fps)
            in_pause = bool(np.any(phrase[max(t0, 0) : max(t1, 0)] < 0))
            far = in_pause or next_depart - end > retract + STAY_S / tempo
        if far:
            keys.add(end + retract, rest_pos + rng.normal(0, 0.005, 3), rest_orient, rest_fingers)
    return keys


def _interpolate(keys: _Keys, times_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keyframes at ``times_s`` → (pos [T, 3], quat [T, 4], finger quat [T, 15, 4]).

    Positions: quintic Hermite segments (position and velocity at both keys, zero acceleration);
    with zero key velocities this is minimum-jerk. Rotations: slerp eased by 10u³ - 15u⁴ + 6u⁵.
    """
    kt = np.asarray(keys.times)
    pos = np.stack(keys.pos)
    vel = np.stack(keys.vel)
    quat = matrix_to_quat(np.stack(keys.orient))
    fquat = axis_angle_to_quat(np.stack(keys.fingers))
    if len(kt) == 1:
        return np.repeat(pos, len(times_s), 0), np.repeat(quat, len(times_s), 0), np.repeat(fquat, len(times_s), 0)
    seg = np.clip(np.searchsorted(kt, times_s, side="right") - 1, 0, len(kt) - 2)
    u = np.clip((times_s - kt[seg]) / (kt[seg + 1] - kt[seg]), 0.0, 1.0)
    s = u**3 * (10 - 15 * u + 6 * u**2)  # minimum jerk: zero velocity and acceleration at both keys
    dt = (kt[seg + 1] - kt[seg])[:, None]
    h_v0 = (u - 6 * u**3 + 8 * u**4 - 3 * u**5)[:, None]
    h_v1 = (-4 * u**3 + 7 * u**4 - 3 * u**5)[:, None]
    p = pos[seg] + s[:, None] * (pos[seg + 1] - pos[seg]) + dt * (h_v0 * vel[seg] + h_v1 * vel[seg + 1])
    q = slerp(quat[seg], quat[seg + 1], s)
    f = slerp(fquat[seg], fquat[seg + 1], s[:, None])
    return p, q, f


def _idle_drift(num_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """[T, 3] slow sway (sum of three sinusoids per axis, 0.15-0.5 Hz), about IDLE_DRIFT_M peak."""
    t = np.arange(num_frames) / fps
    freq = rng.uniform(0.15, 0.5, (3, 3))
    phase = rng.uniform(0, 2 * np.pi, (3, 3))
    waves = np.sin(2 * np.pi * freq[None] * t[:, None, None] + phase[None])  # [T, 3 waves, 3 axes]
    return IDLE_DRIFT_M / 3 * waves.sum(axis=1)


def _start_pose(init: HandMotion, hand: int):
    """The right-hand-convention (pos, orient [3, 3], fingers [15, 3]) of ``init``'s last valid frame of ``hand``."""
    valid = np.flatnonzero(init.mask[:, hand])
    if valid.size == 0:
        return None
    f = valid[-1]
    orient, fingers, pos = init.global_orient[f, hand], init.hand_pose[f, hand], init.transl[f, hand].astype(np.float64)
    if hand == 0:
        orient, fingers, pos = mirror_axis_angle(orient), mirror_axis_angle(fingers), pos * np.array([-1.0, 1.0, 1.0])
    return pos, axis_angle_to_matrix(orient), np.asarray(fingers, np.float64)


def generate_rules(
    onsets,
    num_frames: int | None = None,
    fps: float | None = None,
    seed: int = 0,
    style: str = "talk",
    speed: float | None = None,
    init: HandMotion | None = None,
) -> HandMotion:
    """Gestures for a speech clip from its onsets and loudness, without any model weights.

    Args:
        onsets: an :class:`emo2cli.audio.onsets.Onsets` (``times_s`` [K], ``strength`` [K],
            ``loudness`` [T] dBFS per frame, ``fps``).
        num_frames: T of the output (default: the onsets' frame count); loudness is padded or cut.
        fps: output frame rate (default: the onsets').
        seed: everything random comes from this (same seed → same motion).
        style: one of :data:`STYLES`.
        speed: target variance of wrist translation, cm² (None = the style's typical value).
        init: start from this file's last valid frame (``--init-hands``) instead of the rest pose.

    Returns:
        HandMotion: ``global_orient`` [T, 2, 3], ``hand_pose`` [T, 2, 15, 3], ``transl`` [T, 2, 3]
        (metres, body frame), mask all true; ``meta`` holds generator, style, speed, seed, strokes.

    Raises:
        InputError: unknown style, or a negative speed.
    """
    if style not in STYLES:
        raise InputError(f"unknown style '{style}' for the rules generator", hint=f"known styles: {', '.join(STYLES)}")
    if speed is not None and not speed > 0:
        raise InputError(f"speed must be > 0 (cm², variance of wrist translation), got {speed}")
    params = STYLES[style]
    fps = float(fps or onsets.fps)
    num_frames = int(len(onsets.loudness) if num_frames is None else num_frames)
    ratio = 1.0 if speed is None else speed / params.typical_speed_cm2
    tempo = float(np.clip(np.sqrt(ratio), 0.5, 2.0))
    amp = float(np.clip(ratio**0.25, 0.6, 1.6))
    plan_rng, left_rng, right_rng = (np.random.default_rng([seed, k]) for k in range(3))
    strokes, phrase = _plan(onsets, num_frames, fps, params, tempo, plan_rng)

    times_s = np.arange(num_frames) / fps
    orient = np.zeros((num_frames, 2, 3))
    hand_pose = np.zeros((num_frames, 2, 15, 3))
    transl = np.zeros((num_frames, 2, 3))
    for hand, rng in ((0, left_rng), (1, right_rng)):
        start = _start_pose(init, hand) if init is not None else None
        keys = _hand_keys(hand, strokes, phrase, fps, params, tempo, amp, start, rng)
        pos, quat, fquat = _interpolate(keys, times_s)
        pos = pos + _idle_drift(num_frames, fps, rng)
        aa, fingers = quat_to_axis_angle(quat), quat_to_axis_angle(fquat)
        if hand == 0:  # planned as a right hand: mirror into the left
            aa, fingers, pos = mirror_axis_angle(aa), mirror_axis_angle(fingers), pos * np.array([-1.0, 1.0, 1.0])
        orient[:, hand], hand_pose[:, hand], transl[:, hand] = aa, fingers, pos
    transl = clip_reach(transl)
    transl[..., 2] = np.maximum(transl[..., 2], TORSO_FRONT_Z_M)
    transl[:, 0, 0] = np.maximum(transl[:, 0, 0], MIDLINE_M)  # each wrist stays on its own side
    transl[:, 1, 0] = np.minimum(transl[:, 1, 0], -MIDLINE_M)
    hand_pose = clip_hand_pose(hand_pose)
    return HandMotion(
        fps=fps,
        global_orient=orient.astype(np.float32),
        hand_pose=hand_pose.astype(np.float32),
        transl=transl.astype(np.float32),
        mask=np.ones((num_frames, 2), bool),
        meta={
            "generator": "rules",
            "style": style,
            "speed": speed,
            "seed": seed,
            "strokes": len(strokes),
            "stroke_times_s": [round(s.time_s, 3) for s in strokes],
        },
    )

