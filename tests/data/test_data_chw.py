"""vsrkit.data.chw.to_chw_uint8: the same bytes as NumPy's channels-first copy, for every view a training item holds."""
import itertools

import numpy as np
import pytest

from vsrkit.data.chw import to_chw_uint8


def _views(frames):
    """Every dihedral orientation (hflip, vflip, transpose) of a crop, with and without temporal reversal."""
    crop = frames[:, 3:14, 2:19]  # 11 x 17: a rotation changes the shape
    for hflip, vflip, transpose, reverse in itertools.product((False, True), repeat=4):
        v = crop
        if hflip:
            v = v[:, :, ::-1]
        if vflip:
            v = v[:, ::-1]
        if transpose:
            v = v.swapaxes(1, 2)
        if reverse:
            v = v[::-1]
        yield (hflip, vflip, transpose, reverse), v


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_every_orientation_gives_numpys_bytes(channels):
    frames = np.random.default_rng(channels).integers(0, 256, (4, 20, 24, channels), dtype=np.uint8)
    for name, view in _views(frames):
        got = to_chw_uint8(view)
        assert got.flags.c_contiguous and got.dtype == np.uint8, name
        np.testing.assert_array_equal(got, np.ascontiguousarray(view.transpose(0, 3, 1, 2)), err_msg=str(name))


def test_other_layouts_take_numpys_route():
    frames = np.random.default_rng(0).integers(0, 256, (3, 8, 10, 6), dtype=np.uint8)
    for view in (frames,                               # more channels than OpenCV splits
                 frames[..., ::2],                     # channels not adjacent in memory
                 frames[..., :3][..., ::-1],           # channels reversed (RGB <-> BGR view)
                 frames[:, :1],                        # one row
                 frames[:0]):                          # no frames
        np.testing.assert_array_equal(to_chw_uint8(view), np.ascontiguousarray(view.transpose(0, 3, 1, 2)))
