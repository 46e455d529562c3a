"""The rules generator: determinism, beat alignment against a random-timing control, limits, styles, speed."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emo2cli.audio.load import load_audio
from emo2cli.audio.onsets import detect_onsets
from emo2cli.errors import InputError
from emo2cli.hands.limits import ARM_REACH_M, FINGER_LIMITS_RAD, SHOULDER_M
from emo2cli.hands.rotations import mirror_axis_angle
from emo2cli.hands.rules import STYLES, TORSO_FRONT_Z_M, generate_rules, voiced_frames
from emo2cli.hands.skeleton import hands_joints
from emo2cli.metrics.hands import beat_alignment
from emo2cli.motion.data import translation_speed
from tests.conftest import SPEECH, random_hands


@pytest.fixture(scope="module")
def onsets():
    """Onsets of the bundled speech repeated 3 times (22.6 s)."""
    wave = load_audio(SPEECH)
    return detect_onsets(np.concatenate([wave.samples] * 3), wave.sample_rate, 25.0)


def test_same_seed_same_motion_other_seed_other_motion(onsets):
    a, b = generate_rules(onsets, seed=3), generate_rules(onsets, seed=3)
    for key in ("global_orient", "hand_pose", "transl"):
        assert np.array_equal(getattr(a, key), getattr(b, key))
    assert a.meta == b.meta and a.meta["generator"] == "rules"
    assert not np.allclose(generate_rules(onsets, seed=4).transl, a.transl)


def test_output_is_a_valid_file_of_the_right_length(onsets):
    hands = generate_rules(onsets, num_frames=300, fps=25.0)
    hands.validate()
    assert hands.num_frames == 300 and hands.mask.all()
    assert generate_rules(onsets).num_frames == len(onsets.loudness)


def test_hands_move_independently(onsets):
    hands = generate_rules(onsets, seed=0)
    left, right = hands.transl[:, 0], hands.transl[:, 1] * np.array([-1, 1, 1])  # right mirrored onto the left
    assert np.abs(left - right).max() > 0.1  # not one hand mirrored
    speed = np.linalg.norm(np.diff(hands.transl, axis=0), axis=-1)
    assert np.corrcoef(speed[:, 0], speed[:, 1])[0, 1] < 0.8


def test_beat_alignment_beats_a_random_timing_control(onsets):
    """BA (EMAGE protocol: σ 0.3 s, speed minima of order 7 on the 42 joints) against the real onsets,
    of the rules driven by the real onsets vs by as many onsets at random times. Measured margin on
    this clip: mean 0.48 vs 0.36 over six seeds; the test asks for +0.05 on the mean and a win on
    the majority of seeds."""

    def ba(hands):
        joints = hands_joints(hands).reshape(hands.num_frames, 42, 3)
        return beat_alignment(joints, hands.fps, onsets.times_s, protocol="emage")

    real, control = [], []
    for seed in range(6):
        real.append(ba(generate_rules(onsets, seed=seed)))
        g = np.random.default_rng(100 + seed)
        shuffled = dataclasses.replace(onsets, times_s=np.sort(g.uniform(0, onsets.duration_s, len(onsets.times_s))))
        control.append(ba(generate_rules(shuffled, seed=seed)))
    assert np.mean(real) > np.mean(control) + 0.05, (real, control)
    assert sum(r > c for r, c in zip(real, control)) >= 4


def test_strokes_land_on_onsets(onsets):
    hands = generate_rules(onsets, seed=1)
    strokes = np.asarray(hands.meta["stroke_times_s"])
    assert len(strokes) >= 10  # about one stroke per 1-2 s of speech
    assert np.abs(strokes[:, None] - onsets.times_s[None]).min(axis=1).max() < 1e-6


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("speed", [None, 20.0, 1000.0])
def test_limits_respected(onsets, style, speed):
    for seed in range(2):
        hands = generate_rules(onsets, seed=seed, style=style, speed=speed)
        reach = np.linalg.norm(hands.transl - SHOULDER_M, axis=-1)
        assert reach.max() <= ARM_REACH_M + 1e-5
        assert hands.transl[..., 2].min() >= TORSO_FRONT_Z_M - 1e-6  # never behind the chest surface
        right_convention = np.stack([mirror_axis_angle(hands.hand_pose[:, 0]), hands.hand_pose[:, 1]], axis=1)
        assert (right_convention >= FINGER_LIMITS_RAD[..., 0] - 1e-5).all()
        assert (right_convention <= FINGER_LIMITS_RAD[..., 1] + 1e-5).all()
        assert np.linalg.norm(hands.global_orient, axis=-1).max() <= np.pi + 1e-5
        assert np.abs(hands.transl[:, 0, 0] - hands.transl[:, 1, 0]).min() > 0.05  # hands never pass through each other


def test_speed_sets_the_liveliness(onsets):
    calm = [translation_speed(generate_rules(onsets, seed=s, speed=30.0).transl) for s in range(3)]
    typical = [translation_speed(generate_rules(onsets, seed=s).transl) for s in range(3)]
    lively = [translation_speed(generate_rules(onsets, seed=s, speed=400.0).transl) for s in range(3)]
    assert np.mean(calm) < np.mean(typical) < np.mean(lively)
    # typical_speed_cm2 is what the style produces (within a factor of 2 on speech)
    assert STYLES["talk"].typical_speed_cm2 / 2 < np.mean(typical) < STYLES["talk"].typical_speed_cm2 * 2


def test_rest_in_silence_and_pauses():
    silent = dataclasses.replace(
        detect_onsets(np.zeros(16000 * 3, np.float32), 16000, 25.0),
    )
    hands = generate_rules(silent, seed=0)
    assert hands.meta["strokes"] == 0
    assert np.ptp(hands.transl, axis=0).max() < 0.02  # idle drift only
    assert not voiced_frames(silent.loudness, 25.0).any()


def test_init_hands_are_the_starting_pose(onsets):
    init = random_hands(10, seed=2)
    init.mask[:] = True
    hands = generate_rules(onsets, seed=0, init=init)
    np.testing.assert_allclose(hands.transl[0], init.transl[-1], atol=0.005)  # idle drift only


def test_bad_style_and_speed_are_input_errors(onsets):
    with pytest.raises(InputError, match="known styles: talk, lecture, sing"):
        generate_rules(onsets, style="rap")
    with pytest.raises(InputError, match="speed"):
        generate_rules(onsets, speed=-1.0)
