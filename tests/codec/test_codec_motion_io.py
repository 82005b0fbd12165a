"""save_motion / load_motion: round trip, atomic writes, bad files."""
import os

import numpy as np
import pytest

from vsrkit.codec import MotionClip, load_motion, save_motion
from vsrkit.errors import DataError


def _clip(t=3, h=16, w=32):
    rng = np.random.default_rng(0)
    mv = (rng.integers(-40, 40, (t, 2, h, w)) / 4).astype(np.float32)
    return MotionClip(frames=np.zeros((t, h, w, 3), np.uint8), mv_bwd=mv, mv_fwd=-mv,
                      frame_types=np.array([1, 2, 3][:t], np.uint8), qp=np.full((t, 1, 2), 30, np.uint8),
                      valid_bwd=mv[:, 0] != 0, valid_fwd=None)


def test_round_trip(tmp_path):
    clip = _clip()
    save_motion(tmp_path / "m" / "a.npz", clip)
    got = load_motion(tmp_path / "m" / "a.npz")
    assert got.frames is None and got.mv_bwd.dtype == np.float32
    assert np.array_equal(got.mv_bwd, clip.mv_bwd) and np.array_equal(got.mv_fwd, clip.mv_fwd)
    assert got.frame_types.tolist() == [1, 2, 3] and np.array_equal(got.qp, clip.qp)
    assert np.array_equal(got.valid_bwd, clip.valid_bwd) and got.valid_fwd is None
    assert os.listdir(tmp_path / "m") == ["a.npz"]


def test_bad_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_motion(tmp_path / "none.npz")
    save_motion(tmp_path / "a.npz", _clip())
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="trunc.npz"):
        load_motion(tmp_path / "trunc.npz")
    np.savez(tmp_path / "nokeys.npz", mv_bwd=np.zeros((1, 2, 4, 4)))
    with pytest.raises(DataError, match="mv_fwd"):
        load_motion(tmp_path / "nokeys.npz")
    np.savez(tmp_path / "shape.npz", mv_bwd=np.zeros((2, 2, 4, 4)), mv_fwd=np.zeros((2, 2, 4, 4)),
             frame_types=np.zeros(3))
    with pytest.raises(DataError, match="inconsistent"):
        load_motion(tmp_path / "shape.npz")
