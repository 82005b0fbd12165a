"""Checkpoints: atomic writes, weights-only loading, newest-readable resume, pruning.

Layout under ``experiments/<name>/``: ``models/net_g_<iter>.pth`` (``{'params', 'params_ema', 'meta'}``),
``models/net_g_best.pth``, ``models/net_g_latest.pth`` and ``training_states/<iter>.state`` (optimizer,
scheduler, iteration, epoch, sampler position, RNG states). Every file is written to a temporary name in the same
folder, flushed to disk and renamed, so a crash never leaves a half-written checkpoint under a real name.
"""
from __future__ import annotations

import errno
import io
import logging
import os
import pickle
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vsrkit.errors import CheckpointError
from vsrkit.fileio import atomic_path

log = logging.getLogger("vsrkit")


#: errors of a write that ran out of room (disk full, quota exceeded, file size limit)
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class _FdWriter(io.RawIOBase):
    """A raw file over ``os.write`` that remembers the first OS error, so a failed ``torch.save`` (which reports
    only "unexpected pos") can be explained by the real cause (ENOSPC...)."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        try:
            return os.write(self.fd, data)
        except OSError as err:
            self.error = self.error or err
            raise


class _ByteCounter:
    """A write-only sink that counts bytes (the size a checkpoint needs, without writing it)."""

    def __init__(self):
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` via a temporary file + fsync + rename (+ fsync of the folder).

    A write that fails leaves ``path`` (the previous checkpoint of that name, if any) untouched and no temporary file.

    Raises:
        CheckpointError: the write failed (disk full: the size it needed and the free space; other OS errors: the
            reason), naming ``path`` and saying that the previous checkpoints are intact.
    """
    path = Path(path)
    raw = None
    try:
        with atomic_path(path) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            raw = _FdWriter(fd)
            try:
                with io.BufferedWriter(raw, buffer_size=1 << 20) as f:
                    torch.save(obj, f)
                    f.flush()
                    os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_folder(path.parent)
    except (OSError, RuntimeError) as err:
        cause = raw.error if raw is not None and raw.error is not None else err
        if not isinstance(cause, OSError):
            raise
        raise CheckpointError(_write_error(obj, path, cause)) from None


def _write_error(obj: Any, path: Path, err: OSError) -> str:
    intact = "nothing was replaced: the previous checkpoints are intact"
    if err.errno in NO_SPACE_ERRNOS:
        counter = _ByteCounter()
        try:
            torch.save(obj, counter)
            need = f"needs {_mb(counter.size)}"
        except Exception:  # the size is a courtesy; the failure itself is what matters
            need = "size unknown"
        try:
            free = f", {_mb(shutil.disk_usage(path.parent).free)} free"
        except OSError:
            free = ""
        why = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
               errno.EFBIG: "file size limit reached"}[err.errno]
        return (f"{path}: could not write checkpoint, {why} ({need}{free} in {path.parent}); {intact}; "
                f"free some space and try again (a training run continues with --auto_resume)")
    return f"{path}: could not write checkpoint ({err.strerror or err}); {intact}"


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)``; unreadable files raise CheckpointError naming the file.

    The message tells an empty file, a file holding Python objects (refused for safety: unpickling them could run
    code) and a corrupt or truncated file apart.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty checkpoint (0 bytes; the write that made it never finished); "
                              f"delete it or point to another file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        if "Weights only load failed" in text:
            found = re.search(r"GLOBAL (\S+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(f"{path}: holds Python objects{what}, not only tensors; refused for safety "
                                  f"(loading them could run code). If you trust its source, load it once with "
                                  f"torch.load(weights_only=False) and save only its tensors") from None
        raise CheckpointError(_unreadable(path, err)) from None
    except Exception as err:  # truncated zip, bad pickle stream, EOF...
        raise CheckpointError(_unreadable(path, err)) from None


def _unreadable(path: Path, err: Exception) -> str:
    lines = str(err).strip().splitlines()
    detail = f"{type(err).__name__}: {lines[0][:120]}" if lines else type(err).__name__
    return f"{path}: unreadable checkpoint ({detail}); it is corrupt or truncated — delete it or point to another file"


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


#: what a training state written by the trainer holds (``rng``: one RNG state per rank)
TRAINING_STATE_KEYS = {"iter": int, "epoch": int, "sampler_pos": int, "model": dict, "rng": list}


def check_training_state(obj: Any, path: str | os.PathLike) -> dict:
    """``obj`` if it is a training state (``training_states/<iter>.state``), else CheckpointError saying what it is.

    A network checkpoint (``net_g_<iter>.pth``) passed where a training state belongs gets its own message.
    """
    if isinstance(obj, dict) and all(isinstance(obj.get(k), t) and not isinstance(obj.get(k), bool)
                                     for k, t in TRAINING_STATE_KEYS.items()):
        return obj
    network = isinstance(obj, dict) and (any(k in obj for k in STATE_DICT_WRAPPERS) or (
        obj and all(torch.is_tensor(v) for v in obj.values())))
    if network:
        raise CheckpointError(f"{path}: is a network checkpoint, not a training state; resuming takes "
                              f"experiments/<name>/training_states/<iter>.state (to start from these weights instead, "
                              f"set path.pretrain_network_g)")
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds {type(obj).__name__}, not a training state (a mapping with "
                              f"{', '.join(TRAINING_STATE_KEYS)})")
    bad = [k for k, t in TRAINING_STATE_KEYS.items() if not isinstance(obj.get(k), t) or isinstance(obj.get(k), bool)]
    raise CheckpointError(f"{path}: not a training state of vsrkit (missing or wrong: {', '.join(bad)})")


def scan_states(folder: str | os.PathLike, validate=None) -> tuple[tuple[dict, Path] | None, list[str]]:
    """The newest training state in ``folder`` that loads (and passes ``validate(obj, path)``, which may raise
    CheckpointError), and the errors of the newer ones that did not (each reported as a warning and skipped)."""
    skipped = []
    for _, path in list_states(folder):
        try:
            obj = load_file(path)
            if validate is not None:
                obj = validate(obj, path)
            return (obj, path), skipped
        except CheckpointError as err:
            log.warning("skipping %s", err)
            skipped.append(str(err))
    return None, skipped


def find_resume_state(folder: str | os.PathLike) -> tuple[dict, Path] | None:
    """The newest READABLE training state in ``folder``; corrupt ones are reported and skipped."""
    return scan_states(folder)[0]


_TMP_RE = re.compile(r"^\..+\.tmp-(\d+)$")


def stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Temporary files of :func:`atomic_save` left in ``folder`` by a process that no longer runs (killed while
    writing); they never hold a complete checkpoint."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = []
    for p in folder.iterdir():
        m = _TMP_RE.match(p.name)
        if m and not _process_alive(int(m.group(1))):
            stale.append(p)
    return sorted(stale)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


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
