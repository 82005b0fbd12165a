"""Independently moving objects for the demo clips: motion that one camera flow field does not describe.

With ``objects: N`` the demo builder (:mod:`vsrkit.data.demo_builder`) pastes N elliptical cut-outs of the clip's
photograph over the camera's view. Each moves in a straight line across the frame at its own velocity (HR px/frame,
in frame coordinates, whatever the camera does), so a clip has occlusion and disocclusion boundaries and regions
whose motion differs from the background's. Objects are drawn in list order (later ones on top), with an
anti-aliased edge (alpha ramp of about one HR pixel).

The true flow (:mod:`vsrkit.data.demo_truth`) inside an object is the object's own motion: :func:`paint_object_flow`
overwrites the camera flow at the LR pixels whose centre the object covers (alpha > 0.5) in frame ``t``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from vsrkit.data.demo_truth import lr_pixel_centres


class MovingObject(NamedTuple):
    """One object: ``sprite (s, s, 3)`` uint8, ``alpha (s, s)`` float32 in [0, 1], ``corners (t, 2)`` float64 HR
    position (x, y) of the sprite's top-left pixel in each frame, ``velocity (2,)`` HR px/frame (x, y)."""

    sprite: np.ndarray
    alpha: np.ndarray
    corners: np.ndarray
    velocity: np.ndarray


def ellipse_alpha(size: int, aspect: float) -> np.ndarray:
    """``(size, size)`` float32: 1 inside an axis-aligned ellipse (width ``size``, height ``size * aspect``), 0 outside,
    a linear ramp about one pixel wide across the edge."""
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    rx, ry = size / 2.0, size * aspect / 2.0
    r = np.hypot((x - c) / rx, (y - c) / ry)  # 1 on the edge
    return np.clip((1.0 - r) * min(rx, ry) + 0.5, 0.0, 1.0).astype(np.float32)


def object_paths(rng: np.random.Generator, count: int, num_frames: int, hr_hw, photo: np.ndarray,
                 speed: tuple[float, float]) -> list[MovingObject]:
    """``count`` objects cut from ``photo`` (``(H, W, 3)`` uint8), each 30-50% of the frame's short side, starting
    inside the frame and moving in a random direction at a speed drawn from ``speed`` (HR px/frame)."""
    h, w = int(hr_hw[0]), int(hr_hw[1])
    objects = []
    for _ in range(count):
        size = int(rng.uniform(0.3, 0.5) * min(h, w))
        ph, pw = photo.shape[:2]
        y0, x0 = int(rng.integers(0, max(1, ph - size))), int(rng.integers(0, max(1, pw - size)))
        sprite = np.ascontiguousarray(photo[y0:y0 + size, x0:x0 + size])
        alpha = ellipse_alpha(size, rng.uniform(0.6, 1.0))
        angle = rng.uniform(0.0, 2.0 * np.pi)
        velocity = rng.uniform(float(speed[0]), float(speed[1])) * np.array([np.cos(angle), np.sin(angle)])
        start = np.array([rng.uniform(0, w - size), rng.uniform(0, h - size)])
        corners = start[None, :] + np.arange(num_frames)[:, None] * velocity[None, :]
        objects.append(MovingObject(sprite, alpha, corners, velocity))
    return objects


def _placed(obj: MovingObject, t: int, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The sprite and its alpha moved to frame ``t``'s position on an ``hw`` canvas (bicubic / bilinear, zeros
    outside)."""
    import cv2

    h, w = hw
    m = np.array([[1.0, 0.0, obj.corners[t, 0]], [0.0, 1.0, obj.corners[t, 1]]])
    sprite = cv2.warpAffine(obj.sprite, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(obj.alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0.0)
    return sprite.astype(np.float32), np.clip(alpha, 0.0, 1.0)


def composite(frames: np.ndarray, objects: list[MovingObject]) -> np.ndarray:
    """Paste ``objects`` over ``frames`` ``(t, h, w, 3)`` uint8; returns new uint8 frames."""
    out = frames.astype(np.float32)
    hw = frames.shape[1:3]
    for t in range(len(frames)):
        for obj in objects:
            sprite, alpha = _placed(obj, t, hw)
            out[t] = alpha[..., None] * sprite + (1.0 - alpha[..., None]) * out[t]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def paint_object_flow(flow_bwd: np.ndarray, flow_fwd: np.ndarray, objects: list[MovingObject], scale: int) -> None:
    """Overwrite, in place, the true flows ``(t, 2, h/scale, w/scale)`` (LR px) at the LR pixels an object covers:
    ``flow_bwd[t] = -v / scale`` (where the pixel was in frame t-1), ``flow_fwd[t] = v / scale``. Frames without a
    neighbour keep their zeros."""
    import cv2

    t_len, _, lh, lw = flow_bwd.shape
    centre_x, centre_y = lr_pixel_centres(lh, lw, scale)
    for obj in objects:
        v = (obj.velocity / scale).astype(np.float32)[:, None]
        for t in range(t_len):
            map_x = (centre_x - obj.corners[t, 0]).astype(np.float32)  # the LR centres in sprite coordinates
            map_y = (centre_y - obj.corners[t, 1]).astype(np.float32)
            inside = cv2.remap(obj.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0.0) > 0.5
            if t > 0:
                flow_bwd[t][:, inside] = -v
            if t < t_len - 1:
                flow_fwd[t][:, inside] = v
