"""MANO through ``smplx`` when the user has the (licensed) model files: joints, vertices, faces.

The MANO files are never shipped or downloaded. A folder with ``MANO_RIGHT`` and ``MANO_LEFT``
(``.npz`` preferred) is found by :mod:`emo2cli.hands.kinematics` through the weights resolver
(``render.mano_dir``, ``--mano-dir`` or ``EMO2_MANO_DIR``).

Facts this module relies on (DESIGN §11, research note ``hands-data.md`` §2; smplx 0.1.28):

- ``smplx.MANO`` defaults to PCA hands with the mean pose added; we always pass
  ``use_pca=False, flat_hand_mean=True`` (the project's convention: zeros = flat hand).
- It returns 16 joints in MANO order (wrist, index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3)
  and no fingertips: the tips are vertices 744 (thumb), 320 (index), 443 (middle), 554 (ring),
  671 (pinky) (smplx ``VERTEX_IDS['mano']``). Joints are returned here in the OpenPose 21 order
  of :mod:`emo2cli.hands.skeleton`.
- ``global_orient`` turns the hand about the rest wrist ``J0(β)``, so the MANO wrist is at
  ``J0(β) + transl_mano``. The hands file's ``transl`` is the wrist position itself, so we pass
  ``transl_mano = transl - J0(β)``.
- ``MANO_LEFT`` has a known shapedirs sign bug (smplx issue #48): the first shape direction's
  x component has the right hand's sign; it is flipped when the two files agree there.
- ``.npz`` files are read with ``np.load(allow_pickle=False)`` here (smplx itself would allow
  pickles). The official ``.pkl`` files pickle ``chumpy`` objects: they are accepted only when the
  user has installed ``chumpy`` themselves, since loading one executes a pickle.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from emo2cli.errors import InputError, MissingPrerequisite
from emo2cli.hands.skeleton import OPENPOSE_FROM_MANO21

logger = logging.getLogger(__name__)

# smplx VERTEX_IDS['mano'], in the order the tips are appended (thumb, index, middle, ring, pinky).
TIP_VERTEX_IDS = (744, 320, 443, 554, 671)
NUM_VERTICES = 778
NUM_FACES = 1538
_NPZ_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights", "f", "hands_components", "hands_mean")


def mano_files(mano_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Find (left, right) MANO files in ``mano_dir`` (or its ``mano/`` or ``models/`` subfolder).

    ``.npz`` is preferred over ``.pkl``.

    Raises:
        MissingPrerequisite: no MANO_LEFT/MANO_RIGHT pair there.
    """
    root = Path(mano_dir)
    for folder in (root, root / "mano", root / "models"):
        for ext in (".npz", ".pkl"):
            left, right = folder / f"MANO_LEFT{ext}", folder / f"MANO_RIGHT{ext}"
            if left.is_file() and right.is_file():
                return left, right
    raise MissingPrerequisite(
        "no MANO_LEFT and MANO_RIGHT (.npz or .pkl) found in this folder",
        path=root,
        hint="download MANO from mano.is.tue.mpg.de and point --mano-dir / EMO2_MANO_DIR at its models folder",
    )


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"is not a readable pickle-free MANO .npz ({e})", path=path) from None
    missing = [k for k in _NPZ_KEYS if k not in data]
    if missing:
        raise InputError(f"is not a MANO model file: missing keys {missing}", path=path)
    if data["v_template"].shape != (NUM_VERTICES, 3) or data["J_regressor"].shape != (16, NUM_VERTICES):
        raise InputError(
            f"has v_template {list(data['v_template'].shape)} and J_regressor {list(data['J_regressor'].shape)}, "
            f"expected [{NUM_VERTICES}, 3] and [16, {NUM_VERTICES}] (MANO)",
            path=path,
        )
    return data


def _check_pkl_allowed(path: Path) -> None:
    if importlib.util.find_spec("chumpy") is None:
        raise MissingPrerequisite(
            "is an official MANO .pkl, which pickles chumpy objects; emo2 does not ship chumpy",
            path=path,
            hint="install chumpy yourself (pip install chumpy) to load it, or convert it once to a "
            "chumpy-free .npz (smplx tools/clean_ch.py) and point --mano-dir at that",
        )


def _build(path: Path, is_rhand: bool, batch_size: int):
    import smplx
    from smplx.utils import Struct

    kwargs = dict(is_rhand=is_rhand, use_pca=False, flat_hand_mean=True, num_pca_comps=45, batch_size=batch_size, num_betas=10)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):  # smplx prints a shape-space note
        if path.suffix == ".npz":
            model = smplx.MANO(str(path), data_struct=Struct(**_read_npz(path)), **kwargs)
        else:
            _check_pkl_allowed(path)
            logger.warning("%s: loading a pickled MANO file (it executes code); prefer a .npz", path)
            model = smplx.MANO(str(path), ext="pkl", **kwargs)
    if captured.getvalue().strip():
        logger.debug("smplx: %s", captured.getvalue().strip())
    model.is_rhand = is_rhand
    return model.eval()


class ManoHands:
    """Both MANO hands (left = index 0, right = 1), evaluated through smplx on the CPU.

    Args:
        mano_dir: folder holding MANO_LEFT and MANO_RIGHT (.npz, or .pkl with chumpy installed).
    """

    name = "mano"

    def __init__(self, mano_dir: str | os.PathLike):
        import torch

        left_path, right_path = mano_files(mano_dir)
        self.paths = (left_path, right_path)
        self.models = (_build(left_path, False, 1), _build(right_path, True, 1))
        left, right = self.models
        # smplx issue #48: MANO_LEFT's shapedirs[:, 0] has the right hand's sign.
        with torch.no_grad():
            if (left.shapedirs[:, 0, :] - right.shapedirs[:, 0, :]).abs().sum() < 1:
                left.shapedirs[:, 0, :] *= -1
                logger.debug("flipped MANO_LEFT shapedirs[:, 0] (smplx issue #48)")
        self.faces = (np.asarray(left.faces, np.int64), np.asarray(right.faces, np.int64))

    def rest_wrist(self, hand: int, betas: np.ndarray | None = None) -> np.ndarray:
        """J0(β): [3] float64, the rest wrist joint of MANO (metres, MANO frame)."""
        import torch

        model = self.models[hand]
        betas_t = torch.zeros(1, model.num_betas) if betas is None else torch.as_tensor(np.asarray(betas, np.float32)).reshape(1, -1)
        with torch.no_grad():
            v_shaped = model.v_template + torch.einsum("bl,mkl->bmk", betas_t, model.shapedirs)
            return (model.J_regressor[:1] @ v_shaped[0]).double().numpy()[0]

    def forward(
        self,
        global_orient: np.ndarray,
        hand_pose: np.ndarray,
        transl: np.ndarray,
        hand: int,
        betas: np.ndarray | None = None,
        return_vertices: bool = False,
    ):
        """Posed MANO joints (and vertices) of one hand, wrist at ``transl``.

        Args:
            global_orient: [B, 3] axis-angle, body frame.
            hand_pose: [B, 15, 3] axis-angle, MANO order, flat-hand-mean.
            transl: [B, 3] wrist position, metres, body frame.
            hand: 0 left, 1 right.
            betas: optional [10] MANO shape (zeros by default).
            return_vertices: also return the mesh.

        Returns:
            joints [B, 21, 3] float64 in OpenPose order (16 MANO joints + 5 tip vertices), and,
            with ``return_vertices``, vertices [B, 778, 3] float64 (metres, body frame).
        """
        import torch

        model = self.models[hand]
        global_orient = np.asarray(global_orient, np.float32).reshape(-1, 3)
        batch = len(global_orient)
        betas = np.zeros(model.num_betas, np.float32) if betas is None else np.asarray(betas, np.float32)
        transl_mano = np.asarray(transl, np.float64).reshape(batch, 3) - self.rest_wrist(hand, betas)
        with torch.no_grad():
            out = model(
                betas=torch.as_tensor(np.broadcast_to(betas, (batch, len(betas))).copy()),
                global_orient=torch.as_tensor(global_orient),
                hand_pose=torch.as_tensor(np.asarray(hand_pose, np.float32).reshape(batch, 45)),
                transl=torch.as_tensor(transl_mano.astype(np.float32)),
            )
        vertices = out.vertices.double().numpy()
        joints21 = np.concatenate([out.joints.double().numpy(), vertices[:, list(TIP_VERTEX_IDS)]], axis=1)
        joints = joints21[:, OPENPOSE_FROM_MANO21]
        return (joints, vertices) if return_vertices else joints
