"""vsrkit.color: the one BT.601 RGB -> Y gives each of its users exactly what they computed before it existed.

The reference functions below are the formulas as they stood in vsrkit.metrics (BasicSR's ``to_y_channel``),
vsrkit.data.video_base (the datasets' Y targets) and vsrkit.codec.yuv (RGB -> YUV 4:2:0 of every encoder); the new
code must give the same bits.
"""
import functools

import numpy as np
import pytest

from vsrkit.color import BT601_MATRIX, BT601_MATRIX_255, rgb_to_y_bt601


def old_metrics_y(img):
    x = img[..., ::-1].astype(np.float32) / 255.0
    y = (x @ np.array([24.966, 128.553, 65.481]) + 16.0) / 255.0
    return (y.astype(np.float32) * np.float32(255.0)).astype(np.float64)


def old_dataset_y(frames):
    rgb = frames.astype(np.float32) / 255.0
    y = 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)[..., None]


_OLD_CODEC = np.array([[65.481, 128.553, 24.966],
                       [-37.797, -74.203, 112.0],
                       [112.0, -93.786, -18.214]], dtype=np.float32) / 255.0


def old_codec_y(rgb):
    y = rgb.astype(np.float32) @ _OLD_CODEC[0] + np.float32(16.0)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def near_ties_and_a_sample() -> np.ndarray:
    """Every one of the 2^24 colours whose exact Y is within 1e-3 of a .5 tie (where a different evaluation order
    could round the other way; found with integers: 255000 Y = 4080000 + 65481 R + 128553 G + 24966 B), plus 2^18
    random colours; as a ``(n, 512, 3)`` uint8 image (n even)."""
    gb = (128553 * np.arange(256)[:, None] + 24966 * np.arange(256)[None, :]).ravel()  # index 256 g + b
    ties = np.concatenate([(r << 16) + np.flatnonzero(np.abs((65481 * r + gb) % 255000 - 127500) <= 255)
                           for r in range(256)])
    picked = np.concatenate([ties, np.random.default_rng(0).integers(0, 1 << 24, 1 << 18)])
    picked = np.resize(picked, -(-len(picked) // 1024) * 1024)  # whole rows of 512, an even number of them
    rgb = np.stack([picked >> 16, (picked >> 8) & 255, picked & 255], axis=-1).astype(np.uint8)
    return rgb.reshape(-1, 512, 3)


def test_each_user_gets_the_same_bits_as_before():
    """All 2^24 colours were compared once (the three callers, bit for bit, in about 15 s); the suite keeps the
    colours where rounding is at stake and a random sample."""
    from vsrkit.codec.yuv import rgb_to_yuv420p
    from vsrkit.data.video_base import rgb_to_y
    from vsrkit.metrics import to_y

    img = near_ties_and_a_sample()
    assert len(img) > 64
    new = to_y(img, "y_bt601")
    assert new.dtype == np.float64 and np.array_equal(new, old_metrics_y(img))
    y = rgb_to_y(img[None])
    assert y.dtype == np.uint8 and np.array_equal(y, old_dataset_y(img[None]))
    assert np.array_equal(rgb_to_yuv420p(img)[0], old_codec_y(img))


def test_the_codec_chroma_still_uses_the_same_matrix():
    assert BT601_MATRIX_255.dtype == np.float32 and np.array_equal(BT601_MATRIX_255, _OLD_CODEC)
    from vsrkit.codec.yuv import rgb_to_yuv420p

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    x = img.astype(np.float32).reshape(32, 2, 48, 2, 3).mean(axis=(1, 3))
    to8 = lambda p: np.clip(np.rint(p), 0, 255).astype(np.uint8)  # noqa: E731
    _, u, v = rgb_to_yuv420p(img)
    assert np.array_equal(u, to8(x @ _OLD_CODEC[1] + np.float32(128.0)))
    assert np.array_equal(v, to8(x @ _OLD_CODEC[2] + np.float32(128.0)))


@pytest.mark.parametrize("recipe", ["basicsr", "channels", "matrix"])
def test_recipes_agree_with_the_exact_value_and_keep_the_shape(recipe):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (5, 7, 9, 3), dtype=np.uint8)
    exact = 16.0 + img.astype(np.float64) / 255.0 @ np.array(BT601_MATRIX[0])
    y = rgb_to_y_bt601(img, recipe)
    assert y.shape == img.shape[:-1]
    assert np.abs(y - exact).max() <= (1e-4 if recipe == "basicsr" else 0.5 + 1e-4)
    assert rgb_to_y_bt601(np.array([[0, 0, 0], [255, 255, 255]], np.uint8), recipe).tolist() == [16, 235]


def test_the_recipes_differ_only_on_ties_when_rounded():
    """Why three recipes: rounded to uint8 they disagree only where the exact Y is within float32 error of a .5."""
    img = near_ties_and_a_sample()
    exact = 16.0 + img.astype(np.float64) / 255.0 @ np.array(BT601_MATRIX[0])
    ys = [np.rint(rgb_to_y_bt601(img, "basicsr")), rgb_to_y_bt601(img, "channels"), rgb_to_y_bt601(img, "matrix")]
    differing = 0
    for a in ys:
        for b in ys:
            differ = a != b
            assert np.all(np.abs(exact[differ] % 1 - 0.5) < 1e-4)
            differing += int(differ.sum())
    assert differing > 0  # they do differ there: replacing one recipe by another would change its users' bits


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="recipe must be one of"):
        rgb_to_y_bt601(np.zeros((1, 3), np.uint8), "bt709")
