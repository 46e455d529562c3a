"""EMO2VideoPipeline on tiny random components: shapes, clip handover, memory, determinism, round trip."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from tests.tiny import tiny_video_inputs, tiny_video_pipeline


@pytest.fixture(scope="module")
def pipe():
    return tiny_video_pipeline()


class DictCache:
    """A clip store in memory (the resumable run keeps one on disk)."""

    def __init__(self, clips=None):
        self.clips = dict(clips or {})

    def get(self, k):
        return self.clips.get(k)

    def put(self, k, result):
        self.clips[k] = result


def test_multi_clip_video_has_the_right_frames_streamed_in_order(pipe):
    inputs = tiny_video_inputs(num_frames=10)
    chunks = []
    steps = []
    out = pipe(**inputs, on_frames=chunks.append, on_progress=lambda done, total: steps.append((done, total)), decode_chunk_size=3)
    assert out.frames.shape == (10, 32, 32, 3) and out.frames.dtype == np.uint8 and out.num_frames == 10
    assert sum(len(c) for c in chunks) == 10 and np.array_equal(np.concatenate(chunks), out.frames)
    assert steps[-1] == (6, 6)  # 3 clips x 2 steps
    assert out.frames.std() > 1  # not a constant image
    again = pipe(**tiny_video_inputs(num_frames=10))
    assert np.array_equal(again.frames, out.frames)  # same seed, same bytes
    other = pipe(**{**tiny_video_inputs(num_frames=10), "generator": torch.Generator().manual_seed(1)})
    assert not np.array_equal(other.frames, out.frames)


def test_second_clip_starts_from_the_first_clips_last_latents(pipe):
    cache = DictCache()
    base = pipe(**tiny_video_inputs(num_frames=8), clip_cache=cache).frames
    assert sorted(cache.clips) == [0, 1] and cache.clips[0].context.shape[2] == 2
    # Replaying clip 0 from the store (a resumed run) reproduces clip 1 exactly ...
    resumed = pipe(**tiny_video_inputs(num_frames=8), clip_cache=DictCache({0: cache.clips[0]})).frames
    assert np.array_equal(resumed, base)
    # ... and a different context (clip 0's last frames) changes clip 1, and only clip 1
    first = cache.clips[0]
    changed = type(first)(first.frames, first.context + 1.0, first.hand_maps)
    moved = pipe(**tiny_video_inputs(num_frames=8), clip_cache=DictCache({0: changed})).frames
    assert np.array_equal(moved[:4], base[:4])
    assert np.abs(moved[4:].astype(int) - base[4:]).max() > 0


def test_memory_is_constant_in_the_number_of_clips(pipe):
    from emo2cli.bench import measure

    def run(clips: int, keep: bool) -> tuple[int, float]:
        inputs = tiny_video_inputs(num_frames=4 * clips, size=48)
        inputs.update(num_inference_steps=1, guidance_audio=1.0, guidance_reference=1.0)  # one UNet pass per clip: fast
        maps = inputs.pop("hand_maps")
        tracemalloc.start()
        _, m = measure(lambda: pipe(**inputs, hand_maps=iter(maps), on_frames=lambda f: None, return_frames=keep))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak, m.peak_rss_mb

    run(2, False)  # warm up allocator caches
    arrays_2, rss_2 = run(2, False)
    arrays_6, rss_6 = run(6, False)
    assert rss_6 <= 1.10 * rss_2
    assert arrays_6 <= 1.10 * arrays_2  # arrays alive at once do not grow with the video
    kept_2, _ = run(2, True)
    kept_6, _ = run(6, True)
    assert kept_6 > 2 * kept_2  # the measure does see growth: collecting every frame grows 3x


def test_save_and_load_round_trip_is_identical(pipe, tmp_path):
    from emo2cli.video.pipeline import EMO2VideoPipeline

    pipe.save_pretrained(tmp_path)
    index = (tmp_path / "model_index.json").read_text()
    assert "emo2cli.video.guidance" in index and "emo2cli.video.audio_attention" in index
    loaded = EMO2VideoPipeline.from_pretrained(tmp_path)
    a = pipe(**tiny_video_inputs(num_frames=6)).frames
    b = loaded(**tiny_video_inputs(num_frames=6)).frames
    assert np.array_equal(a, b)
    # the UNet folder holds no EMO2 layer weights: they save apart, as MotionAdapter does
    from safetensors import safe_open

    with safe_open(str(next((tmp_path / "unet").glob("*.safetensors"))), "pt") as f:
        assert not [k for k in f.keys() if "audio" in k or "processor" in k]  # noqa: SIM118 (safe_open has no __iter__)


def test_audio_and_reference_change_the_video_once_layers_are_trained(pipe):
    from emo2cli.video.pipeline import EMO2VideoPipeline
    from tests.tiny import tiny_video_components

    trained = EMO2VideoPipeline(**tiny_video_components())
    with torch.no_grad():
        for layer in trained.audio_proj.layers:  # as if trained: non-zero output projections
            layer.to_out.weight.normal_(0, 0.5)
    inputs = tiny_video_inputs(num_frames=4)
    base = trained(**inputs).frames
    quiet = trained(**{**tiny_video_inputs(num_frames=4), "audio_features": np.zeros_like(inputs["audio_features"])}).frames
    assert np.abs(base.astype(int) - quiet).max() > 0
    other_ref = tiny_video_inputs(num_frames=4, seed=5)["reference_image"]
    moved = trained(**{**tiny_video_inputs(num_frames=4), "reference_image": other_ref}).frames
    assert np.abs(base.astype(int) - moved).max() > 0


def test_guidance_scales_combine_as_documented():
    from emo2cli.video.pipeline import combine_guidance, guidance_passes

    full, ref, none = torch.full((1, 2), 3.0), torch.full((1, 2), 2.0), torch.full((1, 2), 0.5)
    value = {(True, True): full, (True, False): ref, (False, False): none}

    def combine(s_audio, s_ref):
        passes = guidance_passes(s_audio, s_ref)
        return combine_guidance(torch.cat([value[p] for p in passes]), passes, s_audio, s_ref), len(passes)

    got, n = combine(1.0, 1.0)
    assert n == 1 and torch.equal(got, full)  # CFG scale 1: the conditional pass alone
    for s_audio, s_ref, passes in ((2.0, 3.0, 3), (2.5, 2.5, 2), (2.0, 1.0, 2), (1.0, 3.0, 3)):
        got, n = combine(s_audio, s_ref)
        assert n == passes
        torch.testing.assert_close(got, none + s_ref * (ref - none) + s_audio * (full - ref))


def test_bad_inputs_are_refused(pipe):
    inputs = tiny_video_inputs(num_frames=6)
    with pytest.raises(ValueError, match="hand maps ran out"):
        pipe(**{**inputs, "hand_maps": inputs["hand_maps"][:3]})
    with pytest.raises(ValueError, match="multiple of 4"):
        pipe(**{**inputs, "reference_image": np.zeros((34, 32, 3), np.uint8)})


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_components_give_the_float32_video_closely(pipe, dtype):
    half = tiny_video_pipeline()
    half.to(dtype=dtype)  # on a GPU the loader does this; the sampler state stays float32
    a = pipe(**tiny_video_inputs(num_frames=6)).frames.astype(int)
    b = half(**tiny_video_inputs(num_frames=6)).frames.astype(int)
    assert b.shape == a.shape and np.abs(a - b).mean() < 3.0
