"""Per-pixel filling of the holes of codec motion fields (MV-VSR, ``network_g.mv_fill``).

Codec fields have holes: intra blocks and I-frames carry no vector, a B-frame block predicted from one side carries
one direction only, a P-frame carries none towards ``t+1``. ``vsrkit.codec.read_motion`` leaves 0 there and marks it
in ``valid_bwd``/``valid_fwd``. Each filler below fills only the pixels still marked invalid and returns the updated
validity, so they chain (``FILLERS`` in the order given). Pixels no filler reaches stay 0 (the published behaviour).

Shapes: ``mv_bwd``, ``mv_fwd`` ``(n, t, 2, h, w)`` LR pixels, channel 0 = x, vsrkit's convention (``mv_bwd[:, i]``:
where each pixel of frame i is in frame i-1; ``mv_fwd[:, i]``: in frame i+1); ``valid_bwd``, ``valid_fwd``
``(n, t, h, w)`` bool.

* ``opposite`` (constant velocity): ``mv_bwd[i] := -mv_fwd[i]`` where only the forward vector exists, and the other
  way round. Exact for motion that is linear in time.
* ``temporal`` (the same frame pair seen from the neighbouring frame): frames i and i-1 are linked by both
  ``mv_bwd[i]`` and ``mv_fwd[i-1]``, and ``mv_bwd[i](p) = -mv_fwd[i-1](p + mv_bwd[i](p))``. A hole of ``mv_bwd[i]``
  takes that value by two fixed-point steps from the current estimate (0 in a hole), sampling only valid vectors of
  ``mv_fwd[i-1]`` (bilinear weights renormalised over valid pixels; at least half of the weight must be valid).
  Likewise ``mv_fwd[i](p) = -mv_bwd[i+1](p + mv_fwd[i](p))``. Needs no linear-motion assumption.
* ``spatial`` (neighbouring blocks): the mean of the valid vectors in the smallest square window ``(2r+1)^2``,
  ``r = 1, 3, 7, 15, ...``, that holds any (normalised box convolution). Fills every hole of a frame that has at
  least one valid vector in that direction.
"""
from __future__ import annotations

import torch

from vsrkit.archs.blocks import flow_warp

FILLERS = ("opposite", "temporal", "spatial")
#: fixed-point steps of the ``temporal`` filler
TEMPORAL_STEPS = 2
#: least renormalised bilinear weight of valid vectors for a ``temporal`` sample to count
MIN_WEIGHT = 0.5


def fill_opposite(mv_bwd, mv_fwd, valid_bwd, valid_fwd):
    """Constant velocity: a missing direction is the negated other one. Returns ``(mv_bwd, mv_fwd, valid_bwd,
    valid_fwd)``."""
    take_b = ~valid_bwd & valid_fwd
    take_f = ~valid_fwd & valid_bwd
    new_b = torch.where(take_b.unsqueeze(2), -mv_fwd, mv_bwd)
    new_f = torch.where(take_f.unsqueeze(2), -mv_bwd, mv_fwd)
    return new_b, new_f, valid_bwd | valid_fwd, valid_fwd | valid_bwd


def _sample_valid(field: torch.Tensor, valid: torch.Tensor, at: torch.Tensor):
    """Sample ``field (m, 2, h, w)`` at ``p + at`` from its valid pixels only: ``(values, ok)``."""
    m = valid.unsqueeze(1).to(field.dtype)
    num = flow_warp(field * m, at, padding_mode="zeros")
    den = flow_warp(m, at, padding_mode="zeros")
    ok = den[:, 0] >= MIN_WEIGHT
    return num / den.clamp_min(MIN_WEIGHT), ok


def fill_temporal(mv_bwd, mv_fwd, valid_bwd, valid_fwd):
    """The same frame pair's field from the neighbouring frame, inverted (module docstring). Returns
    ``(mv_bwd, mv_fwd, valid_bwd, valid_fwd)``; frame 0's ``mv_bwd`` and the last frame's ``mv_fwd`` have no
    neighbour and are left as they are."""
    n, t, _, h, w = mv_bwd.shape
    if t < 2:
        return mv_bwd, mv_fwd, valid_bwd, valid_fwd

    def fill(cur, cur_valid, other, other_valid):
        # cur: (m, 2, h, w) fields of frames whose partner field is `other` (same pairs, opposite direction)
        cur, other = cur.reshape(-1, 2, h, w), other.reshape(-1, 2, h, w)
        cur_valid, other_valid = cur_valid.reshape(-1, h, w), other_valid.reshape(-1, h, w)
        hole = ~cur_valid
        est, ok = cur, torch.zeros_like(hole)
        for _ in range(TEMPORAL_STEPS):
            value, ok = _sample_valid(other, other_valid, est)
            est = torch.where((hole & ok).unsqueeze(1), -value, cur)
        return est.view(n, t - 1, 2, h, w), (cur_valid | ok).view(n, t - 1, h, w)

    bwd, vb = fill(mv_bwd[:, 1:], valid_bwd[:, 1:], mv_fwd[:, :-1], valid_fwd[:, :-1])
    fwd, vf = fill(mv_fwd[:, :-1], valid_fwd[:, :-1], mv_bwd[:, 1:], valid_bwd[:, 1:])
    return (torch.cat([mv_bwd[:, :1], bwd], 1), torch.cat([fwd, mv_fwd[:, -1:]], 1),
            torch.cat([valid_bwd[:, :1], vb], 1), torch.cat([vf, valid_fwd[:, -1:]], 1))


def box_sum(x: torch.Tensor, r: int) -> torch.Tensor:
    """Sum of ``x (m, c, h, w)`` over the ``(2r+1)^2`` window around each pixel (zeros outside), via integral
    images: cost independent of ``r``."""
    m, c, h, w = x.shape
    s = torch.nn.functional.pad(x, (1, 0, 1, 0)).cumsum(-1).cumsum(-2)            # (m, c, h+1, w+1)
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    y0, y1 = (ys - r).clamp(0, h), (ys + r + 1).clamp(0, h)
    x0, x1 = (xs - r).clamp(0, w), (xs + r + 1).clamp(0, w)
    rows1, rows0 = s[:, :, y1], s[:, :, y0]
    return rows1[..., x1] - rows1[..., x0] - rows0[..., x1] + rows0[..., x0]


def _fill_spatial_one(mv: torch.Tensor, valid: torch.Tensor):
    """``mv (m, 2, h, w)``, ``valid (m, h, w)`` -> filled, validity."""
    h, w = mv.shape[-2:]
    vf = valid.unsqueeze(1).to(mv.dtype)
    num_src = mv * vf
    out, filled = mv, valid
    r = 1
    while True:
        hole = ~filled
        if not bool(hole.any()):
            break
        den = box_sum(vf, r)
        num = box_sum(num_src, r)
        new = hole & (den[:, 0] > 0)
        out = torch.where(new.unsqueeze(1), num / den.clamp_min(1), out)
        filled = filled | new
        if r >= max(h, w):
            break
        r = 2 * r + 1
    return out, filled


def fill_spatial(mv_bwd, mv_fwd, valid_bwd, valid_fwd):
    """Mean of the valid vectors in the smallest window around the hole that holds any (module docstring).
    Returns ``(mv_bwd, mv_fwd, valid_bwd, valid_fwd)``."""
    n, t, _, h, w = mv_bwd.shape
    both = torch.cat([mv_bwd, mv_fwd], 1).reshape(-1, 2, h, w)
    valid = torch.cat([valid_bwd, valid_fwd], 1).reshape(-1, h, w)
    out, ok = _fill_spatial_one(both, valid)
    out, ok = out.view(n, 2 * t, 2, h, w), ok.view(n, 2 * t, h, w)
    return out[:, :t], out[:, t:], ok[:, :t], ok[:, t:]


_FUNCS = {"opposite": fill_opposite, "temporal": fill_temporal, "spatial": fill_spatial}


def fill_motion(mv_bwd, mv_fwd, valid_bwd, valid_fwd, steps):
    """Apply the fillers named in ``steps`` (from :data:`FILLERS`) in order. Returns
    ``(mv_bwd, mv_fwd, valid_bwd, valid_fwd)``: the filled fields and where they now hold a value."""
    for name in steps:
        mv_bwd, mv_fwd, valid_bwd, valid_fwd = _FUNCS[name](mv_bwd, mv_fwd, valid_bwd, valid_fwd)
    return mv_bwd, mv_fwd, valid_bwd, valid_fwd


def validity_from_zeros(mv: torch.Tensor) -> torch.Tensor:
    """``(n, t, h, w)`` validity for a field without recorded masks: a pixel counts as a hole where its vector is
    exactly 0 (the rasteriser's fill value; a true zero vector is then refilled from its neighbours)."""
    return mv.ne(0).any(dim=2)
