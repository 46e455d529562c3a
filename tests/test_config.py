import dataclasses

import pytest

from emo2cli.config import Preset, apply_overrides, list_presets, load_preset, preset_from_dict, read_preset_yaml
from emo2cli.errors import InputError


def test_default_yaml_lists_every_key_with_the_dataclass_default():
    data = read_preset_yaml(list_presets()["default"])
    expected = Preset().to_dict()
    expected.pop("name")
    assert data == expected


def test_every_bundled_preset_loads():
    for name in list_presets():
        preset = load_preset(name)
        assert preset.name == name


def test_presets_are_diffs():
    fast = load_preset("fast")
    assert fast.motion.steps < Preset().motion.steps
    assert fast.audio == Preset().audio


def test_unknown_key_suggests(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("motion:\n  stpes: 3\n")
    with pytest.raises(InputError, match=r"unknown key 'motion.stpes' \(did you mean 'steps'\?\)") as e:
        load_preset(str(p))
    assert "mine.yaml" in str(e.value)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"motion": {"steps": "ten"}}, "key 'motion.steps' must be an integer"),
        ({"motion": {"steps": 0}}, "key 'motion.steps' = 0 is out of range"),
        ({"fps": True}, "key 'fps' must be a number"),
        ({"render": {"height": 701}}, "render.height"),
        ({"motion": 3}, "key 'motion' must be a mapping"),
        ({"audio": {"encoder": "mfcc"}}, "audio.encoder"),
    ],
)
def test_ill_typed_and_out_of_range(data, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preset_from_dict(data, "x.yaml")


def test_cli_bad_preset_exit_2(run_cli, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("video: {stepz: 3}\n")
    r = run_cli("presets", p)
    assert r.exit_code == 2 and "unknown key 'video.stepz'" in r.stderr and "bad.yaml" in r.stderr
    r = run_cli("weights", "--preset", "nonexistent")
    assert r.exit_code == 2 and "unknown preset 'nonexistent'" in r.stderr


def test_overrides_win_and_none_keeps_preset():
    base = load_preset("fast")
    out = apply_overrides(base, {"motion.steps": 3, "motion.style": None, "fps": 30})
    assert out.motion.steps == 3 and out.motion.style == base.motion.style and out.fps == 30.0
    with pytest.raises(InputError, match="motion.steps"):
        apply_overrides(base, {"motion.steps": -1})
    assert dataclasses.is_dataclass(out) and out.name == "fast"


def test_hash_ignores_name_but_not_values():
    a = Preset()
    assert a.sha256() == dataclasses.replace(a, name="x").sha256()
    assert a.sha256() != apply_overrides(a, {"motion.steps": 5}).sha256()


def test_presets_command_json(run_cli):
    import json

    r = run_cli("presets", "fast", "--json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["sources"]["motion.steps"] == "fast.yaml" and d["sources"]["fps"] == "default"
