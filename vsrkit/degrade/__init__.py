"""Degradations that build low-resolution data: MATLAB-exact bicubic and the two BD conventions.

``imresize`` (bicubic BI), ``bd_matlab`` and ``bd_duf`` (blur-downsample) take numpy HWC images or torch tensors
``(..., c, h, w)``; see :mod:`vsrkit.degrade.matlab_resize` and :mod:`vsrkit.degrade.blur_downsample`.
"""
from vsrkit.degrade.blur_downsample import bd_duf, bd_matlab
from vsrkit.degrade.matlab_resize import imresize

__all__ = ["imresize", "bd_matlab", "bd_duf"]
