"""Backend choice: forced/automatic, clear errors, and importing compiles nothing."""
import subprocess
import sys

import pytest
import torch

from vsrkit.errors import ConfigError
from vsrkit.ops.dcn import backend, modulated_deform_conv2d


def test_import_is_cheap_and_compiles_nothing():
    code = ("import sys, vsrkit.ops.dcn as d; "
            "assert 'vsrkit.ops.dcn._ext' not in sys.modules; "
            "assert 'torch.utils.cpp_extension' not in sys.modules, 'cpp_extension imported at import'; "
            "assert not d.backend._ext_state['tried']; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_cpu_uses_torch_unless_forced(monkeypatch):
    monkeypatch.delenv("VSRKIT_DCN_BACKEND", raising=False)
    assert backend.select_backend("cpu") == "torch"
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", "torchvision")
    assert backend.select_backend("cpu") == "torchvision"
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", "torch")
    assert backend.select_backend("cpu") == "torch"


def test_forcing_cuda_on_cpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", "cuda")
    with pytest.raises(ConfigError, match="VSRKIT_DCN_BACKEND=cuda"):
        backend.select_backend("cpu")
    x = torch.rand(1, 2, 4, 4)
    with pytest.raises(ConfigError, match="on cpu"):
        modulated_deform_conv2d(x, torch.zeros(1, 18, 4, 4), torch.ones(1, 9, 4, 4), torch.rand(2, 2, 3, 3),
                                padding=1)


def test_unknown_backend_name(monkeypatch):
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", "mmcv")
    with pytest.raises(ConfigError, match="cuda, torchvision, torch, auto"):
        backend.select_backend("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-extension path of a CPU-only machine")
def test_forcing_cuda_without_extension_names_the_fix(monkeypatch):
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", "cuda")
    monkeypatch.setenv("VSRKIT_DCN_JIT", "0")
    monkeypatch.setattr(backend, "_ext_state", {"tried": False, "module": None, "error": None})
    if backend.load_extension() is not None:
        pytest.skip("a prebuilt extension is installed")
    with pytest.raises(ConfigError, match="VSRKIT_CUDA_EXT=1"):
        backend.select_backend("cuda")
    assert "VSRKIT_DCN_JIT=0" in backend.extension_error()


def test_choice_is_logged_once(monkeypatch, caplog):
    monkeypatch.delenv("VSRKIT_DCN_BACKEND", raising=False)
    monkeypatch.setattr(backend, "_logged", set())
    with caplog.at_level("INFO", logger="vsrkit.ops.dcn"):
        for _ in range(3):
            backend.select_backend("cpu")
    assert [r.getMessage() for r in caplog.records].count(
        "DCN backend for cpu tensors: torch (grid_sample + matmul)") == 1

