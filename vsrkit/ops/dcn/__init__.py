"""Modulated deformable convolution (DCNv2) with three backends.

* ``torch``: ``grid_sample`` + matmul from PyTorch's own ops (``sampled.py``; the CPU default, several times faster
  than torchvision's CPU kernels).
* ``torchvision``: :func:`torchvision.ops.deform_conv2d` (CUDA when the extension is not available; the reference of
  the parity tests).
* ``cuda``: the fused implicit-GEMM extension in ``csrc/`` (``vsrkit.ops.dcn._ext`` built by ``setup.py`` with
  ``VSRKIT_CUDA_EXT=1``, or JIT-compiled on first CUDA use and cached when ``nvcc`` exists).

The backend is chosen automatically on first use and logged once; ``VSRKIT_DCN_BACKEND=cuda|torchvision|torch``
forces one.
Importing this package never compiles anything and never initialises CUDA.

Offset layout (compatible with torchvision): ``offset`` has ``deformable_groups * 2 * kh * kw`` channels, ordered
``[group][kernel point (row-major over kh, kw)][dy, dx]``; ``mask`` has ``deformable_groups * kh * kw`` channels
ordered ``[group][kernel point]``. Offsets are in input pixels.
"""
from vsrkit.ops.dcn.backend import available_backends, select_backend
from vsrkit.ops.dcn.functional import modulated_deform_conv2d
from vsrkit.ops.dcn.modules import DCNPack, ModulatedDeformConv2d

__all__ = ["DCNPack", "ModulatedDeformConv2d", "available_backends", "modulated_deform_conv2d", "select_backend"]
