"""Crop and augmentation keep frames, motion fields and QP maps consistent.

Frames are built so that a known field relates them exactly: frame k at pixel (x, y) equals frame k-1 at
(x + dx, y + dy) (backward field) -- then every transform must keep that relation true for the transformed data.
"""
import itertools
import random

import numpy as np
import pytest

from vsrkit.data.synthetic import translating_clip
from vsrkit.data.transforms import augment, paired_random_crop, random_augment
from vsrkit.errors import DataError

TRANSFORMS = [dict(hflip=h, vflip=v, transpose=t) for h in (0, 1) for v in (0, 1) for t in (0, 1)]


def _gather_chain(num_frames, h, w, seed, direction):
    """Random frames linked by random integer fields: ``direction='bwd'``: frame k gathers from frame k-1."""
    rng = np.random.default_rng(seed)
    fields = rng.integers(-2, 3, size=(num_frames, 2, h, w)).astype(np.float32)
    frames = np.zeros((num_frames, h, w, 3), np.uint8)
    order = range(num_frames) if direction == "bwd" else range(num_frames - 1, -1, -1)
    prev = None
    for k in order:
        if prev is None:
            frames[k] = rng.integers(0, 256, size=(h, w, 3))
        else:
            frames[k] = _warp(frames[prev], fields[k])
        prev = k
    return frames, fields


def _warp(src, field):
    """out(x, y) = src(x + fx, y + fy), integer fields, sources clamped to the frame."""
    h, w = src.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    sx = np.clip(xx + field[0].astype(int), 0, w - 1)
    sy = np.clip(yy + field[1].astype(int), 0, h - 1)
    return src[sy, sx]


def _assert_linked(frames, fields, direction):
    """Check the relation on every pixel whose source lies inside the frame (the clamped ones are ambiguous)."""
    n, h, w = frames.shape[:3]
    ks = range(1, n) if direction == "bwd" else range(n - 1)
    for k in ks:
        src = frames[k - 1] if direction == "bwd" else frames[k + 1]
        yy, xx = np.mgrid[0:h, 0:w]
        inside = ((xx + fields[k][0] >= 0) & (xx + fields[k][0] < w) &
                  (yy + fields[k][1] >= 0) & (yy + fields[k][1] < h))
        assert inside.mean() > 0.5
        np.testing.assert_array_equal(_warp(src, fields[k])[inside], frames[k][inside])


@pytest.mark.parametrize("tf", TRANSFORMS, ids=lambda d: "".join(k[0] if v else "-" for k, v in d.items()))
@pytest.mark.parametrize("direction", ["bwd", "fwd"])
def test_spatial_transforms_keep_motion_consistent(tf, direction):
    frames, fields = _gather_chain(4, 12, 17, seed=1, direction=direction)  # non-square catches h/w mix-ups
    key = "mv_bwd" if direction == "bwd" else "mv_fwd"
    _assert_linked(frames, fields, direction)
    out = augment({"lq": frames, "gt": frames, key: fields}, **tf)
    if tf["transpose"]:
        assert out["lq"].shape == (4, 17, 12, 3) and out[key].shape == (4, 2, 17, 12)
    _assert_linked(out["lq"], out[key], direction)
    if any(tf.values()):  # the transform really changed the data
        assert not np.array_equal(out[key], fields) or not np.array_equal(out["lq"], frames)


def test_temporal_reversal_swaps_fields():
    frames, fields = _gather_chain(5, 10, 11, seed=2, direction="bwd")
    out = augment({"lq": frames, "gt": frames, "mv_bwd": fields, "frame_types": np.arange(5)}, reverse=True)
    np.testing.assert_array_equal(out["lq"], frames[::-1])
    np.testing.assert_array_equal(out["frame_types"], [4, 3, 2, 1, 0])
    assert out["mv_bwd"] is None
    _assert_linked(out["lq"], out["mv_fwd"], "fwd")  # old backward links are the new forward links


@pytest.mark.parametrize("seed", range(6))
def test_all_transforms_on_translation(seed):
    frames, mv_bwd, mv_fwd = translating_clip(5, 20, 28, velocity=(2, -1), seed=seed)
    rng = random.Random(seed)
    tf = dict(hflip=rng.random() < .5, vflip=rng.random() < .5, transpose=rng.random() < .5, reverse=seed % 2 == 0)
    out = augment({"lq": frames, "gt": frames, "mv_bwd": mv_bwd, "mv_fwd": mv_fwd}, **tf)
    _assert_linked(out["lq"], out["mv_bwd"], "bwd")
    _assert_linked(out["lq"], out["mv_fwd"], "fwd")
    vx, vy = 2, -1
    if tf["hflip"]:
        vx = -vx
    if tf["vflip"]:
        vy = -vy
    if tf["transpose"]:
        vx, vy = vy, vx
    if tf["reverse"]:
        vx, vy = -vx, -vy
    assert out["mv_bwd"][:, 0].max() == out["mv_bwd"][:, 0].min() == vx
    assert out["mv_bwd"][:, 1].max() == out["mv_bwd"][:, 1].min() == vy


def test_paired_crop_is_aligned_across_lq_gt_motion_and_qp():
    scale = 2
    gt, _, _ = translating_clip(3, 40, 48, velocity=(2, 2), seed=0)
    lq = gt[:, ::scale, ::scale]
    mv = np.random.default_rng(0).random((3, 2, 20, 24)).astype(np.float32)
    qp = np.arange(20 * 24, dtype=np.float32).reshape(1, 20, 24).repeat(3, 0)
    ref = gt[:1]
    for seed in range(5):
        out = paired_random_crop({"lq": lq, "gt": gt, "mv_bwd": mv, "qp": qp, "ref": ref}, 16, scale,
                                 rng=random.Random(seed))
        assert out["lq"].shape == (3, 8, 8, 3) and out["gt"].shape == (3, 16, 16, 3)
        assert out["mv_bwd"].shape == (3, 2, 8, 8) and out["qp"].shape == (3, 8, 8) and out["ref"].shape[1:3] == (16, 16)
        top, left = divmod(int(out["qp"][0, 0, 0]), 24)
        np.testing.assert_array_equal(out["lq"], lq[:, top:top + 8, left:left + 8])
        np.testing.assert_array_equal(out["gt"], gt[:, 2 * top:2 * top + 16, 2 * left:2 * left + 16])
        np.testing.assert_array_equal(out["mv_bwd"], mv[:, :, top:top + 8, left:left + 8])
        np.testing.assert_array_equal(out["gt"][:, ::2, ::2], out["lq"])
    with pytest.raises(DataError, match="clipX: LQ frames are 24x20, smaller than the 32x32 crop"):
        paired_random_crop({"lq": lq, "gt": gt}, 64, scale, source="clipX")
    with pytest.raises(DataError, match="clipY: GT frames are 48x40 but LQ frames are 24x20 at scale 4"):
        paired_random_crop({"lq": lq, "gt": gt}, 16, 4, source="clipY")


def test_random_augment_draws_every_orientation():
    frame = np.arange(12, dtype=np.uint8).reshape(1, 3, 4, 1)
    seen = set()
    rng = random.Random(0)
    for _ in range(200):
        out = random_augment({"lq": frame, "gt": frame}, use_hflip=True, use_rot=True, rng=rng)
        seen.add(out["lq"].tobytes() + bytes(out["lq"].shape))
    assert len(seen) == 8
    out = random_augment({"lq": frame, "gt": frame}, use_hflip=False, use_rot=False, rng=rng)
    np.testing.assert_array_equal(out["lq"], frame)


def test_float16_fields_transform_to_the_same_bits_as_float32_ones():
    """float16 motion (raw and npz roots) takes a sign-bit route for the flips: the same bits as flipping the float32
    field and rounding it to float16, zeros, infinities and the largest half included."""
    rng = np.random.default_rng(0)
    field = rng.normal(0, 8, (3, 2, 5, 6)).astype(np.float16)
    field.flat[:5] = [0.0, -0.0, np.inf, -np.inf, 65504]
    sample = {"lq": np.zeros((3, 5, 6, 3), np.uint8), "mv_bwd": field, "mv_fwd": field[::-1].copy()}
    wide = {**sample, "mv_bwd": field.astype(np.float32), "mv_fwd": sample["mv_fwd"].astype(np.float32)}
    for hflip, vflip, transpose in itertools.product((False, True), repeat=3):
        half, full = augment(sample, hflip, vflip, transpose), augment(wide, hflip, vflip, transpose)
        for key in ("mv_bwd", "mv_fwd"):
            assert half[key].dtype == np.float16
            assert np.array_equal(half[key].view(np.uint16), full[key].astype(np.float16).view(np.uint16))
