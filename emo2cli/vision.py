"""mediapipe, the optional ``[vision]`` extra (DESIGN §9): the one lazy import and the one quiet context.

Only mediapipe releases up to 0.10.21 carry the ``mediapipe.solutions`` models inside the wheel;
we pin 0.10.14. Everything that runs a mediapipe graph (portrait placement, the body map, hand
tracking, the HKC/HKV and face-mesh metrics) imports it through :func:`import_mediapipe`, and
starts graphs with :func:`open_graph` (or runs them inside :func:`native_stderr_to_log`) so the
C++ side's start-up notes go to the debug log instead of the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from emo2cli.errors import MissingPrerequisite

logger = logging.getLogger(__name__)

VISION_HINT = "pip install 'emo2cli[vision]'"
Graph = TypeVar("Graph")


def import_mediapipe():
    """The ``mediapipe`` module with its bundled ``solutions`` models.

    Its C++ info lines are turned off (``GLOG_minloglevel``), and protobuf's deprecation notice,
    which its graphs raise on every frame, is filtered out (that message only).

    Raises:
        MissingPrerequisite: mediapipe is not installed, or is a release without the bundled
            models (0.10.30 and later).
    """
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe

        _ = mediapipe.solutions.hands  # 0.10.30+ have no solutions (and no bundled models)
    except (ImportError, AttributeError):
        raise MissingPrerequisite(
            "needs emo2cli[vision] (mediapipe 0.10.14 with its bundled pose, hand and face models)", hint=VISION_HINT
        ) from None
    warnings.filterwarnings("ignore", r"SymbolDatabase\.GetPrototype\(\) is deprecated", UserWarning)
    return mediapipe


def open_graph(build: Callable[[], Graph]) -> Graph:
    """Build a ``mediapipe.solutions`` graph and start it quietly; returns the graph.

    The graphs print TFLite/absl notes on fd 2 when built and, from their own threads, when
    their calculators start: build it and run it on two blank frames (the second waits for the
    first's threads) inside :func:`native_stderr_to_log`. Blank frames find nothing, so a
    video-mode graph starts its first real frame with no tracking state.

    Args:
        build: makes the graph, e.g. ``lambda: mp.solutions.hands.Hands(static_image_mode=True)``.
    """
    blank = np.zeros((64, 64, 3), np.uint8)
    with native_stderr_to_log():
        graph = build()
        for _ in range(2):
            graph.process(blank)
    return graph


@contextlib.contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Route what mediapipe's C++ side prints on fd 2 (TFLite/absl notes) to the debug log, and
    hide the Python warnings (protobuf deprecations) its graphs raise.

    Anything else written to fd 2 inside the block is captured too: keep the block to graph calls.
    """
    with warnings.catch_warnings(), tempfile.TemporaryFile() as sink:
        warnings.simplefilter("ignore")
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (some embedded interpreters): nothing to capture
            yield
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                logger.debug("mediapipe: %s", text)
