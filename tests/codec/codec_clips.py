"""Tiny synthetic clips for the codec tests: a real photograph moving by a known global translation."""
import cv2
import numpy as np
from skimage import data


def translating_clip(vx: float, vy: float, num_frames: int = 10, size=(64, 64), origin=(120, 140)):
    """Frames ``(t, h, w, 3)`` uint8 where frame t shows the astronaut photo shifted by ``t * (vx, vy)`` pixels:
    pixel (x, y) of frame t is photo pixel (x + x0 + vx*t, y + y0 + vy*t), so the backward flow is ``(+vx, +vy)``
    and the forward flow ``(-vx, -vy)`` everywhere (bicubic sub-pixel sampling)."""
    img = data.astronaut()
    h, w = size
    out = []
    for t in range(num_frames):
        m = np.float32([[1, 0, -(origin[0] + vx * t)], [0, 1, -(origin[1] + vy * t)]])
        out.append(cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)
