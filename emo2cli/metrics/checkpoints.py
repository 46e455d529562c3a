"""Reading a metric network's weights file into its PyTorch module, safely.

Files are read with ``torch.load(weights_only=True)`` (tensors and plain containers only, never
an arbitrary pickle object); the module is built on the meta device so no random initialisation
is paid for weights that the file replaces. Keys the module does not have (e.g. pytorch-fid's
unused classifier) are ignored; keys it needs and the file lacks are an error naming them.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from emo2cli.errors import InputError


def load_state_dict_file(build: Callable[[], nn.Module], path: str | os.PathLike, what: str, hint: str) -> nn.Module:
    """Build a module with ``build()`` and fill it from the state dict at ``path``.

    Args:
        build: makes the (empty) module.
        what: the network's name for messages ("pytorch-fid's Inception").
        hint: which file the user should give.

    Returns:
        The module in eval mode, on the CPU.

    Raises:
        InputError: unreadable file, or a state dict without this network's keys.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to read is the file's fault
        raise InputError(f"cannot read as a PyTorch state dict ({type(e).__name__}: {e})", path=path) from None
    with torch.device("meta"):
        model = build()
    own = model.state_dict()
    missing = [k for k in own if k not in state] if isinstance(state, dict) else list(own)
    if missing:
        raise InputError(f"is not {what} state dict ({len(missing)} keys missing, e.g. {missing[:2]})", path=path, hint=hint)
    model.load_state_dict({k: state[k] for k in own}, assign=True)
    return model.eval()
