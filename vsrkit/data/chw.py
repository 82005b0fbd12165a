"""Frames ``(t, h, w, c)`` uint8 -> a new contiguous ``(t, c, h, w)`` uint8 array, fast for the strided views a
training item holds.

A training item's frames arrive as a view: a crop of a memory map or of decoded frames, then flipped, transposed
(the rotations) and reversed in time, all without copying. NumPy's copy of such a view into channels-first order
moves one byte at a time with a different stride on each side: about 3 ms for 15 x 256x256x3 (REDS's GT crop),
the largest cost of an item from the raw backend. Here the view is undone to its upright crop (positive strides,
rows longer than columns); each frame of that crop is copied whole rows at a time, put back into the view's
orientation by OpenCV (a flip, a transpose, or one quarter turn for a flip then a transpose) and split by OpenCV
straight into the output planes: the same bytes as ``np.ascontiguousarray(frames.transpose(0, 3, 1, 2))``. On
that GT crop it is 1.6x faster on average over the 8 orientations (1.3-2.8x; both flips with a transpose, two
OpenCV passes, about as fast as NumPy).
"""
from __future__ import annotations

import numpy as np

MAX_SPLIT_CHANNELS = 4  # cv2.split takes 1 to 4 channels
# OpenCV calls allocate their results: passing reused scratch arrays as ``dst`` measured slower here.


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
    turn = None
    if transposed and flip_code in (0, 1):  # one flip then a transpose is one quarter turn
        turn, flip_code = (cv2.ROTATE_90_CLOCKWISE if flip_code == 0 else cv2.ROTATE_90_COUNTERCLOCKWISE), None
    elif transposed:
        turn = "transpose"
    for i in range(t):
        frame = np.ascontiguousarray(upright[i])  # whole rows at a time
        if c == 1:
            frame = frame[:, :, 0]
        if flip_code is not None:
            frame = cv2.flip(frame, flip_code)
        if turn == "transpose":
            frame = cv2.transpose(frame)
        elif turn is not None:
            frame = cv2.rotate(frame, turn)
        if c == 1:
            out[i, 0] = frame
        else:
            cv2.split(frame, [out[i, k] for k in channel_order])  # straight into the output planes
    return out
