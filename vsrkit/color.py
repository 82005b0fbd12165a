"""BT.601 studio-range colour (ITU-R BT.601, MATLAB ``rgb2ycbcr``): the coefficients and the RGB -> Y of vsrkit.

With R, G, B in [0, 1], in 8-bit units (Y in [16, 235], Cb and Cr in [16, 240])::

    Y  =  16 +  65.481 R + 128.553 G +  24.966 B
    Cb = 128 -  37.797 R -  74.203 G + 112.000 B
    Cr = 128 + 112.000 R -  93.786 G -  18.214 B

:func:`rgb_to_y_bt601` is the one RGB -> Y, used by the metrics (``y_mode: y_bt601``), the datasets' Y targets
(``vsrkit.data.video_base``) and the YUV 4:2:0 conversion of every encoder (``vsrkit.codec.yuv``, which takes Cb and
Cr from :data:`BT601_MATRIX_255` too). Each of the three keeps its own floating-point evaluation (``recipe``), because
published scores and built datasets depend on it bit for bit: the results agree to float32 rounding, but rounded to
8 bits they differ on a few dozen of the 2^24 colours, those whose exact Y lies on a .5 tie.

Not this definition: the full-range (JPEG / OpenCV ``COLOR_RGB2YCrCb``) luma 0.299 R + 0.587 G + 0.114 B of
``y_mode: y_full`` and of block matching (``vsrkit.codec.block_motion``).
"""
from __future__ import annotations

import numpy as np

#: rows Y, Cb, Cr; columns R, G, B in [0, 1]; values in 8-bit units
BT601_MATRIX = ((65.481, 128.553, 24.966),
                (-37.797, -74.203, 112.0),
                (112.0, -93.786, -18.214))
#: offsets of Y, Cb, Cr in 8-bit units
BT601_OFFSET = (16.0, 128.0, 128.0)

#: :data:`BT601_MATRIX` for R, G, B in [0, 255], float32 (the codec's matrix)
BT601_MATRIX_255 = np.array(BT601_MATRIX, dtype=np.float32) / 255.0
#: :data:`BT601_OFFSET` as float32
BT601_OFFSET_F32 = np.array(BT601_OFFSET, dtype=np.float32)

RECIPES = ("basicsr", "channels", "matrix")


def rgb_to_y_bt601(rgb: np.ndarray, recipe: str = "basicsr") -> np.ndarray:
    """BT.601 studio-range Y of ``(..., 3)`` RGB (uint8, or float in 0..255 units).

    Args:
        rgb: ``(..., 3)`` RGB, channels last.
        recipe: how Y is evaluated (each bitwise as its users have always computed it):

            - ``'basicsr'``: BasicSR's ``to_y_channel``: B, G, R / 255 in float32, the dot product in float64, / 255,
              float32, * 255 in float32. Returns ``(...)`` float64 holding those float32 values, not rounded
              (``vsrkit.metrics``, ``y_mode: y_bt601``).
            - ``'channels'``: R, G, B / 255 in float32, ``16 + 65.481 R + 128.553 G + 24.966 B`` summed in that order in
              float32, rounded half to even, clipped: ``(...)`` uint8 (the datasets' Y targets).
            - ``'matrix'``: R, G, B (0..255, float32) times the Y row of :data:`BT601_MATRIX_255` (a float32 matrix
              product), plus 16, rounded half to even, clipped: ``(...)`` uint8 (``vsrkit.codec.yuv``).
    """
    if recipe == "basicsr":
        x = rgb[..., ::-1].astype(np.float32) / 255.0
        y = (x @ np.array(BT601_MATRIX[0][::-1]) + BT601_OFFSET[0]) / 255.0
        return (y.astype(np.float32) * np.float32(255.0)).astype(np.float64)
    if recipe == "channels":
        x = rgb.astype(np.float32) / 255.0
        kr, kg, kb = BT601_MATRIX[0]
        y = BT601_OFFSET[0] + kr * x[..., 0] + kg * x[..., 1] + kb * x[..., 2]
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)
    if recipe == "matrix":
        y = np.asarray(rgb, dtype=np.float32) @ BT601_MATRIX_255[0] + BT601_OFFSET_F32[0]
        return np.clip(np.rint(y), 0, 255).astype(np.uint8)
    raise ValueError(f"rgb_to_y_bt601: recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
