"""Extension sources and (marked nvcc, out of the default run) a real compile of the CUDA extension.

Compile test command (about 2-3 minutes on 2 cores, no GPU needed):
    TORCH_CUDA_ARCH_LIST=9.0 python -m pytest -m nvcc tests/ops -q
"""
import os
import subprocess
import sys

import pytest

from vsrkit.ops.dcn import backend


def test_extension_sources_exist():
    names = [os.path.basename(p) for p in backend.extension_sources()]
    assert "dcn.cpp" in names and "dcn_forward.cu" in names and "dcn_backward.cu" in names


@pytest.mark.nvcc
@pytest.mark.skipif(backend.find_nvcc() is None or backend.cuda_home() is None, reason="needs nvcc and CUDA headers")
def test_extension_compiles(tmp_path):
    """Builds csrc/ from scratch into tmp_path (own process: the build sets CUDA_HOME) and checks the bindings."""
    env = dict(os.environ, VSRKIT_CACHE_DIR=str(tmp_path))
    env.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
    code = ("from vsrkit.ops.dcn import backend; m = backend.jit_build(); "
            "print('forward' in dir(m), 'backward' in dir(m), m.__file__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800)
    assert out.returncode == 0, out.stderr[-4000:]
    found, has_bwd, path = out.stdout.split()[-3:]
    assert found == "True" and has_bwd == "True"
    assert path.startswith(str(tmp_path)) and os.path.getsize(path) > 100_000
