"""Tiny real components for tests (STYLE §5, our ``get_dummy_components``).

Each engineer's builders live in their own clearly headed section below.
"""

from __future__ import annotations

import functools


# =============================================================================================
# render: a synthetic MANO model file (no MANO data; smplx loads it)
# =============================================================================================

MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
SYNTHETIC_MANO_J0 = (0.0957, 0.0064, 0.0062)  # the published MANO right rest wrist (β = 0), metres


def write_synthetic_mano(folder, left_shapedirs_bug: bool = True, seed: int = 0):
    """Write ``MANO_RIGHT.npz`` and ``MANO_LEFT.npz`` with MANO's keys and shapes into ``folder``.

    The geometry encodes the built-in skeleton, so smplx's MANO must reproduce
    :func:`emo2cli.hands.skeleton.forward_kinematics` exactly for any pose: vertex k (k < 16) sits
    on MANO joint k and ``J_regressor`` picks it; the fingertip vertices (744, 320, 443, 554, 671)
    sit on the built-in tips and follow their DIP/IP joint; the other vertices hang around random
    joints; pose blend shapes are zero. The rest wrist is at ``SYNTHETIC_MANO_J0`` (x-mirrored for
    the left hand), so tests see the ``transl = wrist - J0`` convention. With
    ``left_shapedirs_bug`` the left file repeats the right's shapedirs (MANO's known sign bug).

    Returns:
        the folder (a ``pathlib.Path``).
    """
    from pathlib import Path

    import numpy as np

    from emo2cli.hands import skeleton
    from emo2cli.hands.mano import NUM_FACES, NUM_VERTICES, TIP_VERTEX_IDS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(seed)
    rest = skeleton.rest_joints(1)
    openpose_of_mano16 = np.concatenate([[0], skeleton.OPENPOSE_OF_MANO])
    joints = rest[openpose_of_mano16] + np.asarray(SYNTHETIC_MANO_J0)  # [16, 3]
    owner = g.integers(0, 16, NUM_VERTICES)
    owner[:16] = np.arange(16)
    vertices = joints[owner] + g.normal(0, 0.004, (NUM_VERTICES, 3))
    vertices[:16] = joints
    tip_parents = [15, 3, 6, 12, 9]  # MANO joints thumb3, index3, middle3, ring3, pinky3
    for vid, parent, tip in zip(TIP_VERTEX_IDS, tip_parents, skeleton.TIPS):
        owner[vid] = parent
        vertices[vid] = rest[tip] + np.asarray(SYNTHETIC_MANO_J0)
    weights = np.eye(16)[owner]
    regressor = np.zeros((16, NUM_VERTICES))
    regressor[np.arange(16), np.arange(16)] = 1.0
    kintree = np.stack([np.array(MANO_PARENTS, np.int64) % 4294967296, np.arange(16)]).astype(np.uint32)
    right = {
        "v_template": vertices,
        "shapedirs": g.normal(0, 0.01, (NUM_VERTICES, 3, 10)),
        "posedirs": np.zeros((NUM_VERTICES, 3, 135)),
        "J_regressor": regressor,
        "kintree_table": kintree,
        "weights": weights,
        "f": g.integers(0, NUM_VERTICES, (NUM_FACES, 3)).astype(np.uint32),
        "hands_components": np.eye(45),
        "hands_mean": g.normal(0, 0.3, 45),  # must be ignored: flat_hand_mean=True
    }
    mirror = np.array([-1.0, 1.0, 1.0])
    left = dict(right)
    left["v_template"] = vertices * mirror
    left["f"] = right["f"][:, ::-1].copy()
    if not left_shapedirs_bug:
        left["shapedirs"] = right["shapedirs"] * mirror[None, :, None]
    np.savez(folder / "MANO_RIGHT.npz", **right)
    np.savez(folder / "MANO_LEFT.npz", **left)
    return folder


# =============================================================================================
# audio: synthetic audio/video files written with PyAV, and a tiny random wav2vec 2.0
# =============================================================================================


def write_audio(path, signal, sample_rate: int, codec: str, video_codec: str | None = None, options: dict | None = None):
    """Encode ``signal`` ([N] or [C, N] float in [-1, 1]) into ``path`` with PyAV.

    ``video_codec`` adds a small 64×64 video stream (25 fps, as long as the audio) before the
    audio stream, for the "audio track of a video" cases. Returns the path.
    """
    from pathlib import Path

    import av
    import numpy as np

    signal = np.atleast_2d(np.asarray(signal, np.float32))
    layout = "mono" if signal.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as container:
        video = None
        if video_codec:  # every stream is added before the first packet is muxed
            video = container.add_stream(video_codec, rate=25)
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        stream = container.add_stream(codec, rate=sample_rate, layout=layout)
        if options:
            stream.codec_context.options = options
        if video is not None:
            for i in range(max(1, int(signal.shape[1] / sample_rate * 25))):
                frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), (i * 7) % 255, np.uint8), format="rgb24")
                for packet in video.encode(frame):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
        fmt = stream.codec_context.format.name
        step = stream.codec_context.frame_size or 1024
        for i in range(0, signal.shape[1], step):
            block = np.clip(signal[:, i : i + step], -1, 1)
            if fmt.startswith("s16"):
                block = (block * 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                block = (block * 2147483647).astype(np.int32)
            if not fmt.endswith("p"):  # packed: [1, N * C] interleaved
                block = block.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=fmt, layout=layout)
            frame.rate, frame.pts = sample_rate, i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


def write_wav(path, signal, sample_rate: int):
    """A 16-bit PCM WAV through the stdlib (any rate, including zero samples). Returns the path."""
    import wave
    from pathlib import Path

    import numpy as np

    pcm = (np.clip(np.asarray(signal, np.float64), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return Path(path)


def tiny_wav2vec_config(**overrides):
    """A ``Wav2Vec2Config`` at toy size (hidden 16, 2 layers) with wav2vec2-base's 320-sample stride.

    ``feat_extract_norm="layer"`` keeps the front end local in time (base uses a GroupNorm over
    the whole clip), so chunked and single-pass runs can be compared exactly at layer 0.
    """
    from transformers import Wav2Vec2Config

    kwargs = {
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "conv_dim": (8, 8, 8, 8, 8, 8, 8),
        "conv_stride": (5, 2, 2, 2, 2, 2, 2),
        "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
        "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 2,
        "feat_extract_norm": "layer",
        "do_stable_layer_norm": False,
        "vocab_size": 8,
    }
    kwargs.update(overrides)
    return Wav2Vec2Config(**kwargs)


def tiny_wav2vec(folder=None, seed: int = 0, **overrides):
    """A randomly initialised tiny ``Wav2Vec2Model``; saved with ``save_pretrained`` when ``folder`` is given."""
    import torch
    from transformers import Wav2Vec2Model

    torch.manual_seed(seed)
    model = Wav2Vec2Model(tiny_wav2vec_config(**overrides)).eval()
    if folder is not None:
        model.save_pretrained(folder)
    return model


# =============================================================================================
# video: the Stage 2 set at toy size (the library's built-in "tiny" table) and its inputs
# =============================================================================================

TINY_VIDEO_AUDIO_DIM = 8


def tiny_video_components(audio_dim: int = TINY_VIDEO_AUDIO_DIM, max_frames: int = 32, seed: int = 0) -> dict:
    """EMO2VideoPipeline kwargs: UNetMotionModel (16/32 channels), ReferenceNet, 4× VAE, guidance,
    audio projection, DDIM. The same table ``--preset tiny`` uses (``emo2cli.video.builtin``)."""
    from emo2cli.video.builtin import random_components

    return random_components("tiny", audio_dim=audio_dim, max_frames=max_frames, seed=seed)


def tiny_video_pipeline(**kwargs):
    from emo2cli.video.pipeline import EMO2VideoPipeline

    pipe = EMO2VideoPipeline(**tiny_video_components(**kwargs))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_video_inputs(num_frames: int = 10, size: int = 32, seed: int = 0, audio_dim: int = TINY_VIDEO_AUDIO_DIM) -> dict:
    """Pipeline inputs: a smooth random portrait, moving blob hand maps, random audio features,
    2 steps, clips of 4 new + 2 motion frames, a seeded generator."""
    import numpy as np
    import torch

    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    portrait = (np.stack([xx, yy, 0.5 + 0.5 * np.sin(6 * xx * yy)], -1) * 200 + g.uniform(0, 55, (size, size, 3))).astype(np.uint8)
    maps = np.zeros((num_frames, size, size, 3), np.uint8)
    for f in range(num_frames):
        cx = int(size * (0.25 + 0.5 * f / max(1, num_frames - 1)))
        maps[f, size // 2 - 3 : size // 2 + 3, max(0, cx - 3) : cx + 3] = (255, 120, 0)
    return {
        "reference_image": portrait,
        "hand_maps": list(maps),
        "audio_features": g.normal(size=(num_frames, audio_dim)).astype(np.float32),
        "num_inference_steps": 2,
        "clip_frames": 4,
        "motion_frames": 2,
        "generator": torch.Generator().manual_seed(seed),
    }


# =============================================================================================
# edit: synthetic SMPL-X model and sequence files (no SMPL-X data; BEAT2 / TalkSHOW layouts)
# =============================================================================================


def write_synthetic_smplx_model(path, num_vertices: int = 80, seed: int = 0):
    """Write a tiny SMPL-X-format ``.npz`` (the keys import-hands reads) with random geometry.

    Vertex k (k < 55) sits on joint k of a random body whose arm chains follow the generic
    layout stretched by 10 % (so the shoulder-width rescaling is exercised); ``J_regressor``
    picks those vertices; ``shapedirs`` is [V, 3, 20] (the v1.1 layout: 10 shape + 10
    expression); ``hands_meanl/r`` are random. No SMPL-X data is in it.

    Returns:
        the path (a ``pathlib.Path``).
    """
    from pathlib import Path

    import numpy as np

    from emo2cli.hands.smplx_io import SMPLX_PARENTS, generic_rest_joints

    g = np.random.default_rng(seed)
    joints = generic_rest_joints() * 1.1
    empty = ~np.isin(np.arange(55), [0, 3, 6, 9, 13, 14, 16, 17, 18, 19, 20, 21])
    joints[empty] = g.normal(0, 0.2, (int(empty.sum()), 3))
    vertices = np.concatenate([joints, g.normal(0, 0.3, (num_vertices - 55, 3))])
    regressor = np.zeros((55, num_vertices))
    regressor[np.arange(55), np.arange(55)] = 1.0
    kintree = np.stack([np.array(SMPLX_PARENTS, np.int64) % 4294967296, np.arange(55)]).astype(np.uint32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        v_template=vertices,
        shapedirs=g.normal(0, 0.01, (num_vertices, 3, 20)),
        J_regressor=regressor,
        kintree_table=kintree,
        hands_meanl=g.normal(0, 0.3, 45),
        hands_meanr=g.normal(0, 0.3, 45),
    )
    return path


def synthetic_smplx_poses(num_frames: int = 30, seed: int = 0, scale: float = 0.3):
    """[T, 165] float32 random SMPL-X poses (all 55 joints, angles around ``scale`` rad)."""
    import numpy as np

    g = np.random.default_rng(seed)
    return (g.normal(0, scale, (num_frames, 165))).astype(np.float32)


def write_synthetic_beat2(path, num_frames: int = 30, fps: float = 30.0, seed: int = 0):
    """A BEAT2-layout ``.npz``: poses [T, 165], trans, betas [300], expressions, mocap_frame_rate."""
    import numpy as np

    g = np.random.default_rng(seed)
    np.savez(
        path,
        poses=synthetic_smplx_poses(num_frames, seed),
        trans=g.normal(0, 0.3, (num_frames, 3)),
        betas=np.zeros(300, np.float32),
        expressions=np.zeros((num_frames, 100), np.float32),
        model=np.array("smplx2020"),
        gender=np.array("neutral"),
        mocap_frame_rate=np.array(fps),
    )
    return path


# =============================================================================================
# metrics: tiny random networks with the interfaces of FID's Inception, FVD's I3D, the face
# identity embedder; and small test videos
# =============================================================================================


def tiny_image_feature_net(dim: int = 8, seed: int = 0):
    """[B, 3, H, W] in [0, 1] → [B, dim], like FIDInceptionV3 (random conv + global pool)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, dim, 5, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


def tiny_video_feature_net(dim: int = 6, seed: int = 0):
    """[1, 3, F, S, S] in [-1, 1] → [1, dim], like I3D's logits; ``input_size`` sets the crop side."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv3d(3, dim, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten()).eval()
    net.input_size = 32
    return net


class TinyFaceEmbedder:
    """The face-identity interface (``detect``, ``embed``) with a fixed centre 'face' box and a
    random conv net embedding: enough to drive the CSIM and Sync code paths without weights."""

    def __init__(self, dim: int = 16, seed: int = 0):
        self.net = tiny_image_feature_net(dim, seed)

    def detect(self, image):
        import numpy as np

        h, w = image.shape[:2]
        return np.array([w * 0.3, h * 0.1, w * 0.4, h * 0.4, *([0.0] * 10), 0.99], np.float32)

    def embed(self, image):
        import numpy as np
        import torch

        x, y, w, h = (int(v) for v in self.detect(image)[:4])
        crop = torch.from_numpy(np.ascontiguousarray(image[y : y + h, x : x + w])).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            e = self.net(crop)[0].double().numpy()
        return e / np.linalg.norm(e)


def write_test_video(path, frames, fps: float = 25.0, audio_path=None):
    """Write [H, W, 3] uint8 frames (even sizes) as an H.264 MP4 through the project's writer."""
    from emo2cli.formats.video import VideoWriter

    frames = list(frames)
    with VideoWriter(path, fps, frames[0].shape[:2], audio_path=audio_path, force=True) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def small_portrait(path, size=(160, 128)):
    """A real portrait resized to [H, W, 3] uint8 (H, W even)."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB").resize((size[1], size[0]), Image.BILINEAR))


# =============================================================================================
# motion: the tiny Stage 1 DiT, a synthetic dataset whose motion is a known function of the
# features, and a tiny checkpoint folder
# =============================================================================================

SYNTH_AUDIO_DIM = 16
SYNTH_DRIVEN = (64, 65, 131, 132)  # 134-vector entries driven by features 0-3: left wrist x, y; right wrist x, y
SYNTH_GAIN_M = 0.05  # metres of wrist motion per unit of feature


def tiny_motion_dit(**overrides):
    """``MotionDiT_tiny`` (hidden 32, depth 2, 2 heads, audio 16, window 8, context 2), seeded."""
    import torch

    from emo2cli.motion.model import MotionDiT_tiny

    torch.manual_seed(0)
    return MotionDiT_tiny(**overrides)


def randomize_motion_dit(model, seed: int = 0, std: float = 0.1):
    """Overwrite every parameter with N(0, std): an "untrained but not zero" model whose output depends on all inputs."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def synthetic_motion_clips(num_clips: int, num_frames: int, seed: int = 0):
    """``MotionClip``s: smooth random features [T, 16]; the rest pose with the wrists moved by
    ``SYNTH_GAIN_M`` × features 0-3 (entries ``SYNTH_DRIVEN``) at the same frame; everything else still."""
    import numpy as np
    from scipy.ndimage import gaussian_filter1d

    from emo2cli.hands.rest import REST_WRIST_M
    from emo2cli.motion.data import MotionClip
    from emo2cli.motion.pipeline import rest_vector

    g = np.random.default_rng(seed)
    clips = []
    for i in range(num_clips):
        feats = gaussian_filter1d(g.normal(size=(num_frames, SYNTH_AUDIO_DIM)), 2.0, axis=0) * 2.5  # std ≈ 0.8
        vector = np.repeat(rest_vector()[None], num_frames, 0)
        for k, entry in enumerate(SYNTH_DRIVEN):
            vector[:, entry] += SYNTH_GAIN_M * feats[:, k]
        clips.append(MotionClip(f"clip{i}", vector.astype(np.float32), np.ones((num_frames, 2), bool), feats.astype(np.float32), "talk", REST_WRIST_M.copy()))
    return clips


def tiny_motion_checkpoint(folder, audio_dim: int = 44, audio_encoder: str = "mel", seed: int = 0):
    """Save a randomly initialised tiny ``MotionPipeline`` (mel features: 40 bands + 4) to ``folder``; returns it."""
    from pathlib import Path

    from emo2cli.motion.pipeline import MotionPipeline, training_scheduler

    model = randomize_motion_dit(tiny_motion_dit(audio_dim=audio_dim, audio_encoder=audio_encoder, fps=25.0), seed, std=0.05)
    MotionPipeline(model, training_scheduler()).save_pretrained(folder)
    return Path(folder)


def one_torch_thread():
    """Context manager: torch on one thread (tiny models are dominated by thread hand-offs on a busy 2-core box)."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def cm():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return cm()


def tiny_whisper(folder=None, seed: int = 0):
    """A randomly initialised tiny ``WhisperModel`` (d_model 16, 4 encoder blocks as whisper-tiny, 80 mels, 30 s input)."""
    import torch
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(seed)
    config = WhisperConfig(
        d_model=16,
        encoder_layers=4,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=16,
        vocab_size=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    model = WhisperModel(config).eval()
    if folder is not None:
        model.save_pretrained(folder)
    return model


# =============================================================================================
# track: short real clips for the hand tracker (mediapipe needs real people and hands)
# =============================================================================================

# 1 s of tests/data/videos/asl_signer1_11s.mp4 (5.4-6.4 s at 25 fps) in which the signer's hands
# are both in view: mediapipe saw the left hand in 23 and the right in 19 of these 25 frames.
SIGNER_CLIP_FRAMES = (135, 160)


def real_clip_frames(frames: tuple[int, int] = SIGNER_CLIP_FRAMES, mirror: bool = False):
    """[F, H, W, 3] uint8 frames ``frames[0]:frames[1]`` of asl_signer1_11s.mp4 on the 25 fps grid (optionally mirrored).

    Decoded once per test session (frames up to the end of ``SIGNER_CLIP_FRAMES``).
    """
    start, stop = frames
    if not (SIGNER_CLIP_FRAMES[0] <= start < stop <= SIGNER_CLIP_FRAMES[1]):
        raise ValueError(f"frames must lie within {SIGNER_CLIP_FRAMES}")
    clip = _signer_clip()[start - SIGNER_CLIP_FRAMES[0] : stop - SIGNER_CLIP_FRAMES[0]]
    return clip[:, :, ::-1].copy() if mirror else clip.copy()


@functools.lru_cache(maxsize=1)
def _signer_clip():
    import itertools

    import numpy as np

    from emo2cli.formats.video import read_video_frames
    from tests.conftest import VIDEOS

    frames = read_video_frames(VIDEOS / "asl_signer1_11s.mp4", 25.0)
    return np.stack(list(itertools.islice(frames, *SIGNER_CLIP_FRAMES)))


def write_clip(path, frames, fps: float = 25.0, audio_path=None):
    """Write [F, H, W, 3] uint8 frames as an H.264 MP4 (with ``audio_path``'s sound muxed, if given). Returns the path."""
    from emo2cli.formats.video import VideoWriter

    with VideoWriter(path, fps, frames.shape[1:3], audio_path=audio_path) as writer:
        for frame in frames:
            writer.write(frame)
    return path


# =============================================================================================
# echomimic: tiny components in EchoMimicV2's architecture and their files (the mapping run backwards)
# =============================================================================================

# SD-1.5's structure at toy size: cross-attention down/up blocks, a motion mid block, 8 motion
# heads and 32 motion-norm groups as theirs (so widths are multiples of 32), audio width 16 (the
# tiny Whisper's d_model; theirs is 384), a 2x VAE and a 2x pose encoder to match it.
TINY_EM_UNET = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 16,
    "attention_head_dim": 4,
    "norm_num_groups": 8,
}


def tiny_echomimic_components(seed: int = 0, audio_dim: int = 16) -> dict:
    """EMO2VideoPipeline kwargs in EchoMimicV2's architecture, every weight random and non-zero.

    The ReferenceNet's cross-attention is zero (theirs has none); the pipeline uses per-frame
    motion norms and EchoMimicV2's scheduler.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from emo2cli.video import echomimic as em
    from emo2cli.video.audio_attention import AudioProjection
    from emo2cli.video.guidance import MotionGuidanceEncoder

    def randomise(model):  # zero-initialised layers (motion proj_out, guidance conv_out) get weights too
        g = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():
            if not p.detach().abs().any():
                p.data = torch.randn(p.shape, generator=g) * 0.05
        return model

    config = {**TINY_EM_UNET, "cross_attention_dim": audio_dim}
    torch.manual_seed(seed)
    adapter = MotionAdapter(
        block_out_channels=config["block_out_channels"], motion_layers_per_block=1, motion_num_attention_heads=em.MOTION_HEADS,
        motion_norm_num_groups=em.MOTION_NORM_GROUPS, motion_max_seq_length=32, use_motion_mid_block=True,
    )  # fmt: skip
    unet = randomise(UNetMotionModel.from_unet2d(UNet2DConditionModel(**config), adapter))
    torch.manual_seed(seed + 2)
    reference_net = UNet2DConditionModel(**config)
    for key, value in reference_net.state_dict().items():
        if em.is_reference_absent(key):
            value.copy_(em.reference_fill(key, value))
    torch.manual_seed(seed + 3)
    vae = AutoencoderKL(
        block_out_channels=(8, 16), layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4, sample_size=32,
    )  # fmt: skip
    torch.manual_seed(seed + 4)
    guidance = randomise(MotionGuidanceEncoder(out_channels=32, hand_channels=3, body_map=False, block_out_channels=(8, 16)))
    audio_proj = AudioProjection(
        audio_dim=audio_dim, window_radius=0, hidden_dim=audio_dim, token_dim=audio_dim, cross_attention_dim=audio_dim,
        null_context_tokens=1, injection="attn2", audio_encoder=em.AUDIO_ENCODER,
    )  # fmt: skip
    return {
        "vae": vae, "unet": unet, "reference_net": reference_net, "guidance": guidance, "audio_proj": audio_proj,
        "scheduler": DDIMScheduler(**em.SCHEDULER_CONFIG),
    }  # fmt: skip


def write_echomimic_files(folder, components: dict, acc: bool = False, vae: bool = True) -> dict:
    """Write ``components`` as EchoMimicV2's ``.pth`` files (the mapping backwards) into ``folder``.

    Also writes ``sd-image-variations-diffusers/unet/config.json`` (the tiny base config, no
    weights) and, with ``vae``, ``sd-vae-ft-mse/`` (the tiny VAE), where their ``pretrained_weights/``
    keeps them, so the converter finds everything in ``folder``. Returns {file name: state dict}.
    """
    from pathlib import Path

    import torch

    from emo2cli.video import echomimic as em

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = em.echomimic_layout(components["unet"], components["reference_net"], components["guidance"])
    for name, state in files.items():
        if acc and name in (em.FILES["denoiser"], em.FILES["motion"]):
            name = name.replace(".pth", "_acc.pth")
        torch.save(state, folder / name)
    base = folder / "sd-image-variations-diffusers" / "unet"
    base.mkdir(parents=True, exist_ok=True)
    components["reference_net"].save_config(base)
    if vae:
        components["vae"].save_pretrained(folder / "sd-vae-ft-mse")
    return files


# =============================================================================================
# trainvideo: synthetic talking videos (with or without audio) and a 32-px Stage 2 preset
# =============================================================================================


def write_talking_video(path, num_frames: int = 30, fps: float = 25.0, size=(48, 64), audio: bool = True):
    """An H.264 MP4 of a block moving across a colour gradient, with a 16 kHz tone-burst audio track
    (``audio=False``: no audio stream). Returns the path."""
    from pathlib import Path

    import numpy as np

    path = Path(path)
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(num_frames):
        frame = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 100)], -1).astype(np.uint8)
        x = (4 + 2 * i) % (width - 10)
        frame[height // 3 : height // 3 + 10, x : x + 8] = (255, 0, 0)
        frames.append(frame)
    wav = None
    if audio:
        t = np.arange(int(num_frames / fps * 16000)) / 16000
        wav = write_wav(path.with_suffix(".src.wav"), 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0), 16000)
    write_test_video(path, frames, fps, audio_path=wav)
    if wav is not None:
        wav.unlink()
    return path


def tiny_train_preset(folder, height: int = 32, width: int = 32, clip_frames: int = 4, motion_frames: int = 2):
    """Write ``tiny32.yaml`` (the tiny preset's random Stage 2 at ``height`` × ``width``, clips of
    ``motion_frames`` + ``clip_frames``) into ``folder``; returns its path (for ``--preset``)."""
    from pathlib import Path

    import yaml

    from emo2cli.config import preset_file, read_preset_yaml

    data = read_preset_yaml(preset_file("tiny"))
    data.setdefault("render", {}).update(height=height, width=width)
    data.setdefault("video", {}).update(clip_frames=clip_frames, motion_frames=motion_frames)
    path = Path(folder) / "tiny32.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def torch_threads(count: int = 1):
    """Context manager: run torch on ``count`` threads, then restore. Tiny tensors run faster on one
    thread, and much faster on a busy machine (no OpenMP threads spinning for a core)."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def scope():
        before = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return scope()


def write_openai_whisper(path, model):
    """Write a transformers ``WhisperModel`` in OpenAI's checkpoint format ({"dims", "model_state_dict"}),
    as EchoMimicV2's ``audio_processor/tiny.pt``. Returns the path."""
    from pathlib import Path

    import torch

    from emo2cli.video import echomimic as em

    c = model.config
    dims = {
        "n_mels": c.num_mel_bins, "n_vocab": c.vocab_size, "n_audio_ctx": c.max_source_positions, "n_audio_state": c.d_model,
        "n_audio_head": c.encoder_attention_heads, "n_audio_layer": c.encoder_layers, "n_text_ctx": c.max_target_positions,
        "n_text_state": c.d_model, "n_text_head": c.decoder_attention_heads, "n_text_layer": c.decoder_layers,
    }  # fmt: skip
    state = {em.whisper_key_to_openai(k): v.detach().clone() for k, v in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": dims, "model_state_dict": state}, path)
    return Path(path)
