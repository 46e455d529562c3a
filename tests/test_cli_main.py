import pytest

from emo2cli.cli.batch import base_name, expand_inputs, output_for
from emo2cli.errors import InputError


def test_version_and_help(run_cli):
    from emo2cli import __version__

    r = run_cli("--version")
    assert r.exit_code == 0 and __version__ in r.stdout
    r = run_cli("--help")
    assert r.exit_code == 0
    for command in ("inspect", "presets", "weights", "bench"):
        assert command in r.stdout


def test_usage_error_is_exit_2(run_cli):
    r = run_cli("inspect")
    assert r.exit_code == 2
    r = run_cli("no-such-command")
    assert r.exit_code == 2


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, emo2cli, emo2cli.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_expand_inputs(tmp_path):
    for n in ("b.wav", "a.wav", "c.txt"):
        (tmp_path / n).write_text("x")
    lst = tmp_path / "list.txt"
    lst.write_text("# comment\nc.txt\n\nb.wav\n")
    got = expand_inputs([str(tmp_path / "*.wav"), f"@{lst}", str(tmp_path / "a.wav")])
    assert got == [tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.txt"]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([str(tmp_path / "*.mp3")])
    with pytest.raises(InputError, match="no such list file"):
        expand_inputs(["@" + str(tmp_path / "missing.txt")])


def test_output_naming(tmp_path):
    assert base_name(tmp_path / "talk.feats.npy") == "talk"
    assert base_name(tmp_path / "talk.wav") == "talk"
    src = tmp_path / "talk.wav"
    assert output_for(src, ".hands.npz", None, many=False) == tmp_path / "talk.hands.npz"
    assert output_for(src, ".hands.npz", tmp_path / "x.hands.npz", many=False) == tmp_path / "x.hands.npz"
    assert output_for(src, ".hands.npz", tmp_path / "out", many=True) == tmp_path / "out" / "talk.hands.npz"
