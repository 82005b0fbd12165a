"""Frame indices of a sliding window around a centre frame, with padding at the clip ends."""
from __future__ import annotations

from vsrkit.errors import ConfigError

PADDING_MODES = ("replicate", "reflection", "reflection_circle", "circle")


def generate_frame_indices(center: int, num_frames: int, max_frame: int, padding: str = "reflection") -> list[int]:
    """Indices of the ``num_frames`` (odd) frames centred on ``center`` in a clip of ``max_frame`` frames.

    Indices outside ``[0, max_frame - 1]`` are replaced according to ``padding``. With ``center = 0``,
    ``num_frames = 5`` and a clip of 10 frames (last index 9) the window ``[-2, -1, 0, 1, 2]`` becomes:

    - ``replicate``:          ``[0, 0, 0, 1, 2]``  (clamp to the first/last frame)
    - ``reflection``:         ``[2, 1, 0, 1, 2]``  (mirror about the end frame: -i, or 2*last - i)
    - ``reflection_circle``:  ``[4, 3, 0, 1, 2]``  (mirror about the window's far end: center + half - i)
    - ``circle``:             ``[3, 4, 0, 1, 2]``  (wrap within the window: i + num_frames)

    and with ``center = 9`` (the last frame) the window ``[7, 8, 9, 10, 11]`` becomes:

    - ``replicate``:          ``[7, 8, 9, 9, 9]``
    - ``reflection``:         ``[7, 8, 9, 8, 7]``
    - ``reflection_circle``:  ``[7, 8, 9, 6, 5]``
    - ``circle``:             ``[7, 8, 9, 5, 6]``

    Args:
        center: 0-based index of the centre frame.
        num_frames: window length, odd.
        max_frame: number of frames in the clip (the last valid index is ``max_frame - 1``).
        padding: one of ``replicate``, ``reflection``, ``reflection_circle``, ``circle``.

    Returns:
        ``num_frames`` indices in ``[0, max_frame - 1]``.
    """
    if padding not in PADDING_MODES:
        raise ConfigError(f"padding: unknown mode '{padding}'; use one of {', '.join(PADDING_MODES)}")
    if num_frames % 2 == 0 or num_frames < 1:
        raise ConfigError(f"num_frame: a centred window needs an odd number of frames, got {num_frames}")
    if not 0 <= center < max_frame:
        raise ValueError(f"center {center} outside a clip of {max_frame} frames")
    last = max_frame - 1
    half = num_frames // 2
    out = []
    for i in range(center - half, center + half + 1):
        if i < 0:
            j = {"replicate": 0, "reflection": -i, "reflection_circle": center + half - i,
                 "circle": num_frames + i}[padding]
        elif i > last:
            j = {"replicate": last, "reflection": 2 * last - i, "reflection_circle": (center - half) - (i - last),
                 "circle": i - num_frames}[padding]
        else:
            j = i
        out.append(min(max(j, 0), last))
    return out
