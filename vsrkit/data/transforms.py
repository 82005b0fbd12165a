"""Paired random crop and augmentation of a clip sample that keep motion fields consistent with the frames.

A *sample* is a dict of numpy arrays (missing keys are skipped):

- ``lq``  ``(t, h, w, c)`` uint8/float frames at LR size; ``gt`` ``(t', H, W, c)`` at ``scale`` times that size;
- ``ref`` ``(k, H, W, c)`` full-resolution reference frames (RCVSR key frames), cropped like ``gt``;
- ``mv_bwd``, ``mv_fwd`` ``(t, 2, h, w)`` float motion in LR pixels, channel 0 = x. Backward field of frame t:
  pixel (x, y) of frame t ~ pixel (x + dx, y + dy) of frame t-1; forward: the same with frame t+1;
- ``qp`` ``(t, h, w)`` per-pixel quantiser (each pixel carries its macroblock's QP), cropped like ``lq``;
- ``valid_bwd``, ``valid_fwd`` ``(t, h, w)`` bool masks of the fields (moved like ``qp``, swapped like the fields);
- ``frame_types`` ``(t,)`` picture types (only reordered by temporal reversal).

Geometry of the motion under each transform (derived from the definition above, field f at frame t):

- horizontal flip: ``f'(x, y) = (-fx(W-1-x, y), fy(W-1-x, y))``  -> flip the field and negate channel 0;
- vertical flip:   ``f'(x, y) = (fx(x, H-1-y), -fy(x, H-1-y))``  -> flip the field and negate channel 1;
- transpose (swap h and w, with a flip this is a 90-degree rotation): ``f'(x, y) = (fy(y, x), fx(y, x))``
  -> transpose the field and swap its two channels;
- temporal reversal: frame k of the new clip is frame T-1-k of the old one, so its backward neighbour (k-1) is the
  old forward neighbour: ``mv_bwd'[k] = mv_fwd[T-1-k]`` and ``mv_fwd'[k] = mv_bwd[T-1-k]``. This holds because the
  fields are at unit temporal distance (the motion contract); it would be wrong for fields that point further.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np

from vsrkit.errors import DataError

LQ_SIZED = ("lq", "mv_bwd", "mv_fwd", "qp", "valid_bwd", "valid_fwd")
GT_SIZED = ("gt", "ref")
TEMPORAL = ("lq", "gt", "ref", "mv_bwd", "mv_fwd", "qp", "valid_bwd", "valid_fwd", "frame_types")
FIELDS = ("mv_bwd", "mv_fwd")


def _spatial_axes(key: str) -> tuple[int, int]:
    """(h axis, w axis) of each sample key."""
    if key in FIELDS:
        return 2, 3
    return 1, 2  # (t, h, w, c) frames and (t, h, w) qp maps / validity masks


def _negate(values: np.ndarray) -> None:
    """``values *= -1`` in place. float16 fields (raw and npz motion) flip the sign bit instead: the same bits
    (NumPy multiplies float16 through float32, 30x slower: 1.6 ms for one REDS item's field)."""
    if values.dtype == np.float16:
        values.view(np.uint16)[...] ^= np.uint16(0x8000)
    else:
        values *= -1


def _as_array(value: Any) -> np.ndarray:
    return np.stack(value) if isinstance(value, (list, tuple)) else value


def draw_crop(lq_hw: tuple[int, int], gt_hw: tuple[int, int], gt_size: int, scale: int,
              rng: random.Random | None = None, source: str = "") -> tuple[int, int, int]:
    """Check the sizes and draw the crop of :func:`paired_random_crop`: ``(top, left, lq_size)`` in LR pixels.

    Datasets whose storage reads regions draw the crop with this before reading (the same checks, the same two
    random draws in the same order, so the crop is the same as cropping after a full read).
    """
    rng = rng or random
    h, w = lq_hw
    if gt_hw[0] != h * scale or gt_hw[1] != w * scale:
        raise DataError(f"{source}: GT frames are {gt_hw[1]}x{gt_hw[0]} but LQ frames are {w}x{h} at "
                        f"scale {scale} (expected {w * scale}x{h * scale}); check 'scale' and the dataset folders")
    if gt_size % scale:
        raise DataError(f"{source}: gt_size {gt_size} is not a multiple of scale {scale}")
    lq_size = gt_size // scale
    if h < lq_size or w < lq_size:
        raise DataError(f"{source}: LQ frames are {w}x{h}, smaller than the {lq_size}x{lq_size} crop "
                        f"(gt_size {gt_size} / scale {scale}); lower gt_size")
    return rng.randint(0, h - lq_size), rng.randint(0, w - lq_size), lq_size


def crop_sample(sample: dict, top: int, left: int, lq_size: int, scale: int) -> dict:
    """Crop every key of ``sample`` to the ``lq_size`` square at ``(top, left)`` LR pixels (GT-sized keys to the
    ``scale`` times larger square); other keys are copied unchanged."""
    out = {k: _as_array(v) for k, v in sample.items()}
    for key in LQ_SIZED + GT_SIZED:
        if out.get(key) is None:
            continue
        s = scale if key in GT_SIZED else 1
        ah, aw = _spatial_axes(key)
        idx = [slice(None)] * out[key].ndim
        idx[ah] = slice(top * s, (top + lq_size) * s)
        idx[aw] = slice(left * s, (left + lq_size) * s)
        out[key] = out[key][tuple(idx)]
    return out


def paired_random_crop(sample: dict, gt_size: int, scale: int, rng: random.Random | None = None,
                       source: str = "") -> dict:
    """Crop the same region from every key: an ``gt_size // scale`` square at LR size, ``gt_size`` at GT size.

    Args:
        sample: dict as described in the module docstring (``lq`` and ``gt`` required; lists of frames accepted).
        gt_size: side of the GT crop in HR pixels (a multiple of ``scale``).
        scale: spatial factor between ``gt`` and ``lq``.
        rng: source of randomness (default: the ``random`` module, seeded per DataLoader worker by torch).
        source: the clip/key named in errors.

    Returns:
        a new dict with the cropped arrays (other keys copied unchanged).
    """
    lq, gt = _as_array(sample["lq"]), _as_array(sample["gt"])
    top, left, lq_size = draw_crop(lq.shape[1:3], gt.shape[1:3], gt_size, scale, rng, source)
    return crop_sample(sample, top, left, lq_size, scale)


def augment(sample: dict, hflip: bool = False, vflip: bool = False, transpose: bool = False,
            reverse: bool = False, contiguous: bool = True) -> dict:
    """Apply the given flips / transpose / temporal reversal to every key of ``sample`` (see module docstring).

    Order: hflip, vflip, transpose (so ``vflip + transpose`` is a 90-degree rotation), then temporal reversal.
    Returns a new dict of contiguous arrays, or (``contiguous=False``) of strided views where no values change
    (frames, masks; the fields are always new arrays): for a consumer that copies anyway, e.g. into the item's
    float tensors, which saves one pass over the frames.
    """
    out = {k: _as_array(v) for k, v in sample.items()}
    for key, arr in list(out.items()):
        if arr is None or key not in TEMPORAL:
            continue
        ah, aw = _spatial_axes(key)
        if key != "frame_types":
            if hflip:
                arr = np.flip(arr, axis=aw)
            if vflip:
                arr = np.flip(arr, axis=ah)
            if transpose:
                arr = np.swapaxes(arr, ah, aw)
            if key in FIELDS:
                arr = arr.copy()
                if hflip:
                    _negate(arr[:, 0])
                if vflip:
                    _negate(arr[:, 1])
                if transpose:
                    arr = arr[:, ::-1]
        out[key] = arr
    if reverse:
        for key in TEMPORAL:
            if out.get(key) is not None:
                out[key] = out[key][::-1]
        for bwd, fwd in (("mv_bwd", "mv_fwd"), ("valid_bwd", "valid_fwd")):
            if out.get(bwd) is not None or out.get(fwd) is not None:
                out[bwd], out[fwd] = out.get(fwd), out.get(bwd)
    if not contiguous:
        return out
    return {k: (np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v) for k, v in out.items()}


def random_augment(sample: dict, use_hflip: bool = True, use_rot: bool = True, use_temporal_flip: bool = False,
                   rng: random.Random | None = None, contiguous: bool = True) -> dict:
    """Draw each enabled transform with probability 1/2 (``use_rot`` draws vflip and transpose independently,
    giving the 8 dihedral orientations with ``use_hflip``) and apply them with :func:`augment`."""
    rng = rng or random
    hflip = use_hflip and rng.random() < 0.5
    vflip = use_rot and rng.random() < 0.5
    transpose = use_rot and rng.random() < 0.5
    reverse = use_temporal_flip and rng.random() < 0.5
    return augment(sample, hflip=hflip, vflip=vflip, transpose=transpose, reverse=reverse, contiguous=contiguous)
