"""The one mediapipe import: a clear MissingPrerequisite without the extra; native stderr goes to the debug log."""

from __future__ import annotations

import logging
import os

import pytest

from emo2cli.errors import MissingPrerequisite
from emo2cli.vision import import_mediapipe, native_stderr_to_log


def test_without_mediapipe_names_the_extra(no_mediapipe):
    with pytest.raises(MissingPrerequisite) as err:
        import_mediapipe()
    assert "emo2cli[vision]" in err.value.message and err.value.hint == "pip install 'emo2cli[vision]'"


def test_with_mediapipe_the_bundled_solutions_are_there():
    pytest.importorskip("mediapipe")
    assert hasattr(import_mediapipe().solutions, "pose")


def test_native_stderr_goes_to_the_debug_log(capfd, caplog):
    with native_stderr_to_log():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert "XNNPACK" not in capfd.readouterr().err
    os.write(2, b"after\n")  # fd 2 is restored
    assert capfd.readouterr().err == "after\n"
    with caplog.at_level(logging.DEBUG, logger="emo2cli.vision"), native_stderr_to_log():
        os.write(2, b"W0000 inference_feedback_manager.cc:114] Feedback manager\n")
    assert "mediapipe: W0000 inference_feedback_manager" in caplog.text
