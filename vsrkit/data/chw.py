"""Frames ``(t, h, w, c)`` uint8 -> a new contiguous ``(t, c, h, w)`` uint8 array, fast for the strided views a
training item holds.

A training item's frames arrive as a view: a crop of a memory map or of decoded frames, then flipped, transposed
(the rotations) and reversed in time, all without copying. NumPy's copy of such a view into channels-first order
moves one byte at a time with a different stride on each side: about 3 ms for 15 x 256x256x3 (REDS's GT crop),
the largest cost of an item from the raw backend. Here the view is undone to its upright crop (positive strides,
rows longer than columns), each frame of that crop is copied (whole rows at a time) and split into its planes by
OpenCV, and OpenCV's flip and transpose put each plane back into the view's orientation, straight into the output:
the same bytes as ``np.ascontiguousarray(frames.transpose(0, 3, 1, 2))``, 3-5x faster.
"""
from __future__ import annotations

import numpy as np

MAX_SPLIT_CHANNELS = 4  # cv2.split takes 1 to 4 channels


def to_chw_uint8(frames: np.ndarray) -> np.ndarray:
    """``(t, h, w, c)`` uint8 (any strides) -> new contiguous ``(t, c, h, w)`` uint8 with the same values."""
    import cv2

    t, h, w, c = frames.shape
    out = np.empty((t, c, h, w), np.uint8)
    if frames.size == 0 or c > MAX_SPLIT_CHANNELS or frames.strides[3] not in (1, -1) and c > 1:
        out[...] = frames.transpose(0, 3, 1, 2)
        return out
    if frames.strides[3] < 0:
        frames = frames[..., ::-1]  # channels reversed in memory: read them upright, write them back reversed
        channel_order = range(c - 1, -1, -1)
    else:
        channel_order = range(c)
    transposed = abs(frames.strides[1]) < abs(frames.strides[2]) and h > 1 and w > 1
    upright = frames.swapaxes(1, 2) if transposed else frames
    flip_rows, flip_cols = upright.strides[1] < 0, upright.strides[2] < 0
    upright = upright[:, ::-1 if flip_rows else 1, ::-1 if flip_cols else 1]
    flip_code = -1 if flip_rows and flip_cols else 0 if flip_rows else 1 if flip_cols else None
    uh, uw = upright.shape[1:3]
    flipped = np.empty((uh, uw, c), np.uint8) if flip_code is not None else None  # scratch, reused per frame
    planes = np.empty((c, uh, uw), np.uint8) if transposed else None
    for i in range(t):
        frame = np.ascontiguousarray(upright[i])  # whole rows at a time
        if flipped is not None:
            frame = cv2.flip(frame, flip_code, flipped.reshape(uh, uw, c) if c > 1 else flipped[:, :, 0])
            frame = frame.reshape(uh, uw, c)
        target = planes if transposed else out[i]
        if c == 1:
            target[0] = frame[:, :, 0]
        else:
            cv2.split(frame, [target[k] for k in channel_order])
        if transposed:
            for k in range(c):
                cv2.transpose(planes[k], out[i, k])
    return out
