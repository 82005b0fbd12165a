"""Checkpoints: atomic writes, weights-only loading, newest-readable resume, pruning.

Layout under ``experiments/<name>/``: ``models/net_g_<iter>.pth`` (``{'params', 'params_ema', 'meta'}``),
``models/net_g_best.pth``, ``models/net_g_latest.pth`` and ``training_states/<iter>.state`` (optimizer,
scheduler, iteration, epoch, sampler position, RNG states). Every file is written to a temporary name in the same
folder, flushed to disk and renamed, so a crash never leaves a half-written checkpoint under a real name.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsrkit.errors import CheckpointError

log = logging.getLogger("vsrkit")


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` via a temporary file + fsync + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)``; unreadable files raise CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle error, disallowed global...
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(err).__name__}: {str(err).splitlines()[0][:120]}); "
                              f"it is corrupt or truncated — delete it or point to another file") from None


def unwrap(net: nn.Module) -> nn.Module:
    """The plain module inside DDP / torch.compile wrappers."""
    while True:
        if hasattr(net, "module") and isinstance(net.module, nn.Module):
            net = net.module
        elif hasattr(net, "_orig_mod"):
            net = net._orig_mod
        else:
            return net


#: containers that published and vsrkit checkpoints wrap their state dict in, tried in this order after param_key
STATE_DICT_WRAPPERS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "net", "generator")


def extract_state_dict(obj: Any, param_key: str | None, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensor dict inside a loaded checkpoint: ``obj[param_key]``, else the first of
    :data:`STATE_DICT_WRAPPERS` present, else ``obj`` itself; a ``module.`` prefix (DDP) is removed.

    Raises:
        CheckpointError: the content is not a ``{name: tensor}`` mapping (a list, a bare tensor...).
    """
    state = obj
    if isinstance(obj, dict):
        for key in ((param_key,) if param_key else ()) + STATE_DICT_WRAPPERS:
            if isinstance(obj.get(key), dict):
                state = obj[key]
                break
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        what = type(state).__name__ if not isinstance(state, dict) else \
            ("an empty mapping" if not state else "a mapping whose values are not all tensors")
        raise CheckpointError(f"{path}: holds {what}, not network weights; expected a state dict, optionally "
                              f"inside one of {', '.join(STATE_DICT_WRAPPERS)}")
    return {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}


def load_network(net: nn.Module, path: str | os.PathLike, param_key: str | None = "params_ema",
                 strict: bool = True) -> None:
    """Load weights from a vsrkit/BasicSR checkpoint, or an official checkpoint of the published code, into ``net``.

    ``param_key`` picks ``params_ema`` or ``params`` (falls back to the other, then to the usual wrappers of
    published checkpoints; a bare state dict works too). A published layout is converted by the converter registered
    for the arch (:mod:`vsrkit.archs.official`). A mismatch raises CheckpointError listing missing, unexpected and
    mismatched keys (with ``strict``; otherwise they are logged and the fitting tensors are loaded).
    """
    from vsrkit.archs.official import to_vsrkit_state_dict

    net = unwrap(net)
    state = to_vsrkit_state_dict(net, extract_state_dict(load_file(path), param_key, path), str(path))
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
                         for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing keys {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_short(unexpected)}")
        if wrong_shape:
            parts.append(f"shape mismatch {_short(wrong_shape)}")
        if strict:
            raise CheckpointError(f"{path}: does not fit {type(net).__name__} ({'; '.join(parts)}); "
                                  f"is it a checkpoint of another network or configuration?")
        log.warning("%s: loaded non-strictly into %s (%s)", path, type(net).__name__, "; ".join(parts))
    net.load_state_dict({k: v for k, v in state.items() if k in own and own[k].shape == v.shape}, strict=False)


def _short(keys: list[str], n: int = 5) -> str:
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def save_network(path: str | os.PathLike, net: nn.Module, ema_net: nn.Module | None, meta: dict) -> None:
    atomic_save({"params": unwrap(net).state_dict(),
                 "params_ema": unwrap(ema_net).state_dict() if ema_net is not None else unwrap(net).state_dict(),
                 "meta": meta}, path)


_STATE_RE = re.compile(r"^(\d+)\.state$")


def list_states(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """``[(iteration, path)]`` of the training states in ``folder``, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STATE_RE.match(p.name))]
    return sorted(found, reverse=True)


def find_resume_state(folder: str | os.PathLike) -> tuple[dict, Path] | None:
    """The newest READABLE training state in ``folder``; corrupt ones are reported and skipped."""
    for _, path in list_states(folder):
        try:
            return load_file(path), path
        except CheckpointError as err:
            log.warning("skipping %s", err)
    return None


def prune(folder: str | os.PathLike, pattern: str, keep_last: int | None) -> None:
    """Delete the files of all but the ``keep_last`` newest iterations among the names that match ``pattern``
    (its first group is the iteration; several files may share one, e.g. the networks of a routed model)."""
    if not keep_last or keep_last <= 0:
        return
    rx = re.compile(pattern)
    found = [(int(m.group(1)), p) for p in Path(folder).iterdir() if (m := rx.match(p.name))]
    keep = set(sorted({it for it, _ in found}, reverse=True)[:keep_last])
    for it, path in found:
        if it not in keep:
            path.unlink(missing_ok=True)
