import numpy as np
import pytest

from emo2cli.metrics import hands as H
from tests.conftest import random_hands

FPS = 25.0


def _motion_with_minima(beat_frames, num_frames=250, joints=3):
    """Joints oscillating so that each joint's speed has its minima exactly at ``beat_frames``."""
    # speed s(u) = 2 + distance to the nearest beat (V shaped, above the 0.1 x mean floor), sampled
    # at half frames so that the central difference of x has its strict minima on the beats
    u = np.arange(num_frames, dtype=np.float64) + 0.5
    speed = 2.0 + np.min(np.abs(u[:, None] - np.asarray(beat_frames)[None, :]), axis=1)
    x = np.concatenate([[0.0], np.cumsum(speed)[:-1]]) / FPS
    pos = np.zeros((num_frames, joints, 3))
    pos[:, :, 0] = x[:, None]
    return pos


def test_ba_is_one_on_the_beats_and_falls_with_jitter():
    rng = np.random.default_rng(0)
    beat_frames = np.arange(20, 1000, 20)
    audio = beat_frames / FPS
    perfect = H.beat_alignment(_motion_with_minima(beat_frames, 1020), FPS, audio, "emage")
    assert perfect == pytest.approx(1.0)
    # a fixed shift of d frames scores exp(-d^2 / 2 sigma^2) exactly
    shifted = H.beat_alignment(_motion_with_minima(beat_frames + 3, 1020), FPS, audio, "emage")
    assert shifted == pytest.approx(np.exp(-((3 / FPS) ** 2) / (2 * 0.3**2)), abs=1e-9)
    # talkshow's sigma (0.1 s) punishes the same shift harder
    assert H.beat_alignment(_motion_with_minima(beat_frames + 3, 1020), FPS, audio, "talkshow") < shifted
    # uniform jitter in [-J, J]: the score falls toward the random-timing value. At J = 10 every
    # motion beat is uniform over its 20-frame cell; the expected score is then E exp(-d^2 / 2 sigma^2)
    # with d the distance to the nearest of the three neighbouring cells' beats (Monte Carlo here).
    u = rng.integers(-10, 10, (20000, 3), endpoint=True) + np.array([-20, 0, 20])
    random_value = np.mean(np.exp(-((np.abs(u).min(axis=1) / FPS) ** 2) / (2 * 0.3**2)))
    scores = []
    for jitter in (2, 5, 10):
        motion = beat_frames + rng.integers(-jitter, jitter, len(beat_frames), endpoint=True)
        scores.append(H.beat_alignment(_motion_with_minima(motion, 1020), FPS, audio, "emage", order=1))
    assert 1.0 > scores[0] > scores[1] > scores[2]
    assert scores[2] == pytest.approx(random_value, abs=0.05)


def test_alignment_averages_over_audio_beats():
    # one motion beat, three audio beats: only the matching audio beat scores 1
    assert H.alignment_score(np.array([1.0, 5.0, 9.0]), np.array([1.0]), 0.3) == pytest.approx(1 / 3, abs=1e-6)
    assert H.alignment_score(np.array([1.0]), np.array([]), 0.3) == 0.0


def test_div_protocols():
    x = np.random.default_rng(0).normal(size=(30, 42, 3))
    assert H.div([x, x, x]) == 0.0
    assert H.div([x, x], protocol="variance") == 0.0
    assert H.div([np.ones((10, 2, 3))] * 2, protocol="l1") == 0.0
    small = H.div([x, x + 0.01, x - 0.01])
    big = H.div([x, x + 0.1, x - 0.1])
    assert big == pytest.approx(10 * small) and small == pytest.approx((0.01 + 0.01 + 0.02) / 3)
    # TalkSHOW: var over 2 samples differing by d in x only = d^2 / 2 per joint, summed over joints
    assert H.div([np.zeros((5, 4, 3)), np.full((5, 4, 3), [0.2, 0, 0])], protocol="variance") == pytest.approx(4 * 0.02)
    # groups: pairs never cross audios
    assert H.div([x, x, x + 1, x + 1], groups=[0, 0, 1, 1]) == 0.0
    with pytest.raises(ValueError, match="2 generated samples"):
        H.div([x, x + 1], groups=[0, 1])


def test_pck_thresholds():
    from emo2cli.hands.skeleton import hands_joints

    hands = random_hands(12)
    ref = hands_joints(hands)
    valid = np.ones((12, 2), bool)
    assert H.pck(ref, ref, valid)[0] == 1.0
    shift = np.zeros(3)
    shift[0] = 0.017  # just under 0.1 x 18.4 cm
    share, tau = H.pck(ref + shift, ref, valid)
    assert share == 1.0 and tau == pytest.approx(0.0184, abs=1e-4)
    shift[0] = 0.019
    assert H.pck(ref + shift, ref, valid)[0] == 0.0
    assert H.pck(ref + shift, ref, valid, threshold_m=0.02) == (1.0, 0.02)
    moved = ref.copy()
    moved[:, 0] += 1.0  # left hand far off
    assert H.pck(moved, ref, valid)[0] == 0.5
    assert H.pck(moved, ref, valid & np.array([False, True]))[0] == 1.0


def test_fgd_kin_is_zero_against_itself_and_grows():
    hands = random_hands(60, seed=1)
    joints, valid = H.joints_of(hands)
    assert H.kinematic_features(joints, FPS, valid).shape[1] == 252
    same = H.fgd_kin([(joints, FPS, valid)], [(joints, FPS, valid)])
    assert same == pytest.approx(0.0, abs=1e-6)
    assert H.fgd_kin([(joints + 0.05, FPS, valid)], [(joints, FPS, valid)]) == pytest.approx(126 * 0.05**2, rel=1e-3)


def test_train_fgd_and_fgd(tmp_path):
    from emo2cli.errors import InputError
    from emo2cli.formats.hands import write_hands
    from emo2cli.metrics.fgd_encoder import load_fgd_encoder, train_fgd

    data = tmp_path / "ref"
    for seed in range(2):
        h = random_hands(40, seed=seed)
        h.mask[:] = True
        write_hands(h, data / f"r{seed}.hands.npz")
    info = train_fgd(data, tmp_path / "enc", window=16, steps=12, seed=0)
    assert info["windows"] == 2 * 4 and info["loss_last"] < info["loss_first"]
    enc = load_fgd_encoder(tmp_path / "enc")
    again = train_fgd(data, tmp_path / "enc2", window=16, steps=12, seed=0)
    assert again["loss_last"] == info["loss_last"]  # same seed, same model
    j0 = H.joints_of(random_hands(40, seed=0))[0]
    j1 = H.joints_of(random_hands(40, seed=5))[0]
    assert enc.latents(j0).shape == (40 // 16 * 4, 64)
    assert H.fgd([j0, j1], [j0, j1], enc) == pytest.approx(0.0, abs=1e-6)
    assert H.fgd([j0 + 0.05, j1 + 0.05], [j0, j1], enc) > 0.0
    with pytest.raises(InputError, match="already exists"):
        train_fgd(data, tmp_path / "enc", window=16, steps=1)
    with pytest.raises(InputError, match="no \\*.hands.npz"):
        train_fgd(tmp_path / "enc", tmp_path / "x", steps=1)
