"""Backend choice for modulated deformable convolution: the CUDA extension, torchvision, or PyTorch's own ops.

CPU tensors use ``torch`` (:mod:`vsrkit.ops.dcn.sampled`: ``grid_sample`` and a matmul, several times faster than
torchvision's CPU kernels and equal to them up to float rounding).
Nothing here runs at import. The first call of :func:`select_backend` for a CUDA tensor tries, in order:
the extension built by ``setup.py`` (``vsrkit.ops.dcn._ext``), then a JIT build of ``csrc/`` with
:func:`torch.utils.cpp_extension.load` (only when ``nvcc`` is found; cached under ``$VSRKIT_CACHE_DIR`` or
``~/.cache/vsrkit``, so it compiles once per machine and torch version), and falls back to torchvision.
Environment:

* ``VSRKIT_DCN_BACKEND=cuda|torchvision|torch`` forces a backend (``auto`` or unset: automatic). Forcing ``cuda``
  when the extension cannot be loaded, or for CPU tensors, raises :class:`vsrkit.errors.ConfigError`.
* ``VSRKIT_DCN_JIT=0`` disables the JIT build (automatic choice then uses torchvision if nothing is prebuilt).
* ``VSRKIT_DCN_DETERMINISTIC=1`` makes the extension's backward bitwise repeatable (see ``functional.py``).
* ``VSRKIT_DCN_NVCC_FLAGS``: extra nvcc flags of the JIT build, e.g. ``-DVSRKIT_DCN_FP32_SIMT`` (exact-fp32 SIMT
  GEMMs instead of the default 3xTF32 tensor-core GEMMs; torch rebuilds when the flags change).
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import shutil
import threading
from pathlib import Path
from types import ModuleType

from vsrkit.errors import ConfigError

LOGGER = logging.getLogger("vsrkit.ops.dcn")
BACKENDS = ("cuda", "torchvision", "torch")
CSRC_DIR = Path(__file__).resolve().parent / "csrc"

_lock = threading.Lock()
_ext_state: dict = {"tried": False, "module": None, "error": None}
_logged: set = set()


def _log_once(key: str, level: int, message: str, *args) -> None:
    if key not in _logged:
        _logged.add(key)
        LOGGER.log(level, message, *args)


def requested_backend() -> str:
    """The backend forced by ``VSRKIT_DCN_BACKEND`` (``"auto"`` when unset)."""
    value = os.environ.get("VSRKIT_DCN_BACKEND", "").strip().lower() or "auto"
    if value not in BACKENDS + ("auto",):
        raise ConfigError(f"VSRKIT_DCN_BACKEND={value!r} is not a DCN backend; use one of "
                          f"{', '.join(BACKENDS)}, auto")
    return value


def find_nvcc() -> str | None:
    """Path of ``nvcc`` from ``$CUDA_HOME/bin`` or ``PATH``, or None."""
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if cuda_home and (Path(cuda_home) / "bin" / "nvcc").is_file():
        return str(Path(cuda_home) / "bin" / "nvcc")
    return shutil.which("nvcc")


def extension_sources() -> list[str]:
    """The C++/CUDA sources of the extension, sorted (the same list ``setup.py`` compiles)."""
    return sorted(str(p) for p in CSRC_DIR.iterdir() if p.suffix in (".cpp", ".cu"))


def build_directory() -> Path:
    """Where the JIT build is cached: ``$VSRKIT_CACHE_DIR/dcn_ext/torch-<version>`` (default ``~/.cache/vsrkit``)."""
    import torch

    root = Path(os.environ.get("VSRKIT_CACHE_DIR", Path.home() / ".cache" / "vsrkit"))
    tag = f"torch-{torch.__version__}".replace("+", "_")
    return root / "dcn_ext" / tag


def cuda_home() -> str | None:
    """The CUDA toolkit root holding ``bin/nvcc`` and ``include/cuda_runtime_api.h``: ``$CUDA_HOME`` if set, else
    ``/usr/local/cuda``, else derived from the ``nvcc`` on PATH (symlinks resolved)."""
    candidates = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    for root in candidates:
        if root and (Path(root) / "bin" / "nvcc").exists() and (Path(root) / "include" / "cuda_runtime_api.h").exists():
            return root
    return None


def jit_build(verbose: bool = False) -> ModuleType:
    """Compile ``csrc/`` with :func:`torch.utils.cpp_extension.load` (cached; recompiles only when sources change).

    Uses ``$TORCH_CUDA_ARCH_LIST`` when set (else torch's default: the visible GPUs' architectures). Raises whatever
    the compiler raises; callers decide whether to fall back.
    """
    home = cuda_home()
    if home and not os.environ.get("CUDA_HOME"):
        os.environ["CUDA_HOME"] = home
    import torch.utils.cpp_extension as cpp_extension

    if home and cpp_extension.CUDA_HOME != home:  # torch guessed the root at its import, possibly wrongly
        cpp_extension.CUDA_HOME = home
    load = cpp_extension.load
    directory = build_directory()
    directory.mkdir(parents=True, exist_ok=True)
    extra = os.environ.get("VSRKIT_DCN_NVCC_FLAGS", "").split()  # e.g. -DVSRKIT_DCN_FP32_SIMT
    return load(name="vsrkit_dcn_ext", sources=extension_sources(), build_directory=str(directory),
                extra_cflags=["-O3"], extra_cuda_cflags=["-O3", "--use_fast_math", *extra], verbose=verbose)


def load_extension() -> ModuleType | None:
    """The compiled extension (prebuilt, or JIT-built when nvcc exists and ``VSRKIT_DCN_JIT`` is not 0), or None.

    Tried once per process; the failure reason is kept in :func:`extension_error`.
    """
    with _lock:
        if _ext_state["tried"]:
            return _ext_state["module"]
        _ext_state["tried"] = True
        errors = []
        try:
            _ext_state["module"] = importlib.import_module("vsrkit.ops.dcn._ext")
            return _ext_state["module"]
        except ImportError as exc:
            errors.append(f"no prebuilt vsrkit.ops.dcn._ext ({exc})")
        if os.environ.get("VSRKIT_DCN_JIT", "1") == "0":
            errors.append("JIT build disabled by VSRKIT_DCN_JIT=0")
        elif find_nvcc() is None:
            errors.append("nvcc not found for a JIT build (set CUDA_HOME or install the CUDA toolkit)")
        else:
            LOGGER.info("compiling the DCN CUDA extension into %s (first use only, takes a few minutes)",
                        build_directory())
            try:
                _ext_state["module"] = jit_build()
                return _ext_state["module"]
            except Exception as exc:  # compiler errors come in many types; keep the reason, fall back
                errors.append(f"JIT build failed: {type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}")
        _ext_state["error"] = "; ".join(errors)
        return None


def extension_error() -> str | None:
    """Why the extension could not be loaded (None if it loaded or was not tried yet)."""
    return _ext_state["error"]


def select_backend(device) -> str:
    """``"cuda"``, ``"torchvision"`` or ``"torch"`` for tensors on ``device`` (a ``torch.device`` or string); logged
    once. Automatic: ``torch`` on the CPU; on CUDA the extension, else torchvision.

    Raises:
        ConfigError: ``VSRKIT_DCN_BACKEND=cuda`` but the tensors are not on CUDA or the extension cannot be loaded.
    """
    import torch

    device = torch.device(device)
    requested = requested_backend()
    if requested in ("torchvision", "torch"):
        _log_once(f"forced-{requested}", logging.INFO, "DCN backend: %s (forced by VSRKIT_DCN_BACKEND)", requested)
        return requested
    if device.type != "cuda":
        if requested == "cuda":
            raise ConfigError(f"VSRKIT_DCN_BACKEND=cuda but the DCN inputs are on {device.type}; move them to a "
                              "CUDA device or unset VSRKIT_DCN_BACKEND")
        _log_once(f"auto-{device.type}", logging.INFO, "DCN backend for %s tensors: torch (grid_sample + matmul)",
                  device.type)
        return "torch"
    if load_extension() is not None:
        _log_once("cuda", logging.INFO, "DCN backend: cuda extension (fused implicit GEMM)")
        return "cuda"
    if requested == "cuda":
        raise ConfigError(f"VSRKIT_DCN_BACKEND=cuda but the DCN CUDA extension is unavailable: {extension_error()}; "
                          "build it with `VSRKIT_CUDA_EXT=1 pip install -e .` or unset VSRKIT_DCN_BACKEND")
    _log_once("fallback-tv", logging.WARNING, "DCN backend: torchvision (CUDA extension unavailable: %s)",
              extension_error())
    return "torchvision"


def available_backends() -> list[str]:
    """Backends usable in this process without compiling: torchvision and torch always; cuda if the extension is
    loaded or could be built (CUDA device present and either a prebuilt module or nvcc)."""
    import torch

    names = ["torchvision", "torch"]
    if torch.cuda.is_available():
        prebuilt = _ext_state["module"] is not None or importlib.util.find_spec("vsrkit.ops.dcn._ext") is not None
        if prebuilt or (os.environ.get("VSRKIT_DCN_JIT", "1") != "0" and find_nvcc() is not None):
            names.insert(0, "cuda")
    return names
