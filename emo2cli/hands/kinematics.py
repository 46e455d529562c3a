"""One forward-kinematics interface over the two hand models: the built-in hand and MANO.

Both take the hands file's parameters (``global_orient``, ``hand_pose``, ``transl``, ``betas``)
and return OpenPose-order joints with the wrist at ``transl``; MANO also has a mesh. Which one
is used follows ``render.hand_model`` (``auto`` | ``builtin`` | ``mano``) and ``render.mano_dir``
/ ``EMO2_MANO_DIR``, resolved through :func:`emo2cli.weights.resolve`: ``auto`` takes MANO when
its files are found and usable, and the built-in hand otherwise (with a log line saying so).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from emo2cli.config import RenderConfig
from emo2cli.errors import MissingPrerequisite
from emo2cli.hands import skeleton

logger = logging.getLogger(__name__)

MANO_WHAT = "MANO model folder (MANO_RIGHT/LEFT)"
MANO_ENV = "EMO2_MANO_DIR"


class BuiltinHands:
    """The built-in 21-joint hand (:mod:`emo2cli.hands.skeleton`); it has no mesh and ignores betas."""

    name = "builtin"
    faces = None

    def forward(
        self,
        global_orient: np.ndarray,
        hand_pose: np.ndarray,
        transl: np.ndarray,
        hand: int,
        betas: np.ndarray | None = None,
        return_vertices: bool = False,
    ) -> np.ndarray:
        """Same signature as :meth:`emo2cli.hands.mano.ManoHands.forward`; returns joints [B, 21, 3]."""
        if return_vertices:
            raise ValueError("the built-in hand has no mesh; use a MANO model for vertices")
        return skeleton.forward_kinematics(global_orient, hand_pose, transl, hand)


def load_hand_model(render: RenderConfig | None = None, mano_dir: str | os.PathLike | None = None):
    """The hand model a render uses.

    Args:
        render: the preset's render settings (``hand_model``, ``mano_dir``); None = defaults.
        mano_dir: overrides ``render.mano_dir`` (the ``--mano-dir`` flag).

    Returns:
        :class:`BuiltinHands` or :class:`emo2cli.hands.mano.ManoHands`.

    Raises:
        MissingPrerequisite: ``hand_model: mano`` and no usable MANO folder.
        InputError: a MANO file that is not a MANO model.
    """
    from emo2cli import weights

    render = render or RenderConfig()
    choice = render.hand_model
    ref = str(mano_dir) if mano_dir is not None else render.mano_dir
    if choice == "builtin":
        return BuiltinHands()
    if choice == "mano":
        from emo2cli.hands.mano import ManoHands

        path = weights.resolve(ref, MANO_WHAT, env_var=MANO_ENV, instead="set render.hand_model to builtin to draw the built-in hand")
        return ManoHands(path)
    found = weights.locate(ref, MANO_ENV, allow_download=False)
    if found.path is None:
        logger.debug("no MANO folder configured (render.mano_dir / %s): drawing the built-in hand", MANO_ENV)
        return BuiltinHands()
    from emo2cli.hands.mano import ManoHands

    try:
        return ManoHands(found.path)
    except MissingPrerequisite as e:
        logger.warning("%s; drawing the built-in hand instead", e)
        return BuiltinHands()


def model_joints(hands, model=None) -> np.ndarray:
    """Joints of both hands of a HandMotion under ``model`` (built-in when None).

    Returns:
        [T, 2, 21, 3] float32, metres, body frame, OpenPose order.
    """
    if model is None or isinstance(model, BuiltinHands):
        return skeleton.hands_joints(hands)
    return np.stack(
        [model.forward(hands.global_orient[:, h], hands.hand_pose[:, h], hands.transl[:, h], h, hands.betas[h]) for h in (0, 1)],
        axis=1,
    ).astype(np.float32)
