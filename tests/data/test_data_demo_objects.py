"""Moving objects in the demo clips (``objects: N``): they move at their own velocity over the camera's view, the
true flow follows them, and a dataset without objects is the same as before."""
import json
import os

import numpy as np
import pytest

from vsrkit.data.demo_builder import build_demo_dataset
from vsrkit.data.demo_objects import MovingObject, composite, ellipse_alpha, paint_object_flow
from vsrkit.data.demo_truth import load_true_flow, true_flow_path
from vsrkit.data.storage import read_png
from vsrkit.errors import ConfigError

KW = dict(num_train_clips=1, num_val_clips=1, num_frames=4, hr_size=64, crf=18, seed=3, pan_speed=[4, 8])


def _object(velocity, start=(10.0, 20.0), size=16, frames=4):
    rng = np.random.default_rng(0)
    sprite = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    corners = np.asarray(start)[None, :] + np.arange(frames)[:, None] * np.asarray(velocity, np.float64)[None, :]
    return MovingObject(sprite, ellipse_alpha(size, 1.0), corners, np.asarray(velocity, np.float64))


def test_object_moves_at_its_velocity_over_a_still_background():
    obj = _object((4.0, -2.0))
    frames = composite(np.full((4, 48, 64, 3), 128, np.uint8), [obj])
    assert ellipse_alpha(16, 1.0)[8, 8] == 1.0 and ellipse_alpha(16, 1.0)[0, 0] == 0.0
    # integer steps: the object's pixels are the same values, 4 px right and 2 px up per frame
    np.testing.assert_array_equal(frames[1, 20:34, 16:28], frames[0, 22:36, 12:24])
    np.testing.assert_array_equal(frames[3, 16:30, 24:36], frames[0, 22:36, 12:24])
    assert (frames[0, :, :8] == 128).all()  # the background away from the object is untouched


def test_true_flow_inside_objects_is_theirs_and_the_camera_flow_elsewhere():
    bwd = np.full((4, 2, 12, 16), 0.25, np.float32)
    fwd = -bwd.copy()
    bwd[0] = fwd[3] = 0
    paint_object_flow(bwd, fwd, [_object((4.0, -2.0))], 4)
    inside, outside = (6, 4), (0, 15)  # LR pixel (y, x) at the object's centre in frame 0 / far from it
    np.testing.assert_array_equal(fwd[0, :, inside[0], inside[1]], [1.0, -0.5])  # v / scale
    np.testing.assert_array_equal(bwd[0, :, inside[0], inside[1]], [0.0, 0.0])  # no frame before frame 0
    np.testing.assert_array_equal(bwd[1, :, 6, 5], [-1.0, 0.5])  # the object is one LR px right in frame 1
    np.testing.assert_array_equal(bwd[1, :, outside[0], outside[1]], [0.25, 0.25])
    assert (fwd[3] == 0).all()


def test_builder_with_objects(tmp_path):
    plain = build_demo_dataset(tmp_path / "plain", **KW)
    moving = build_demo_dataset(tmp_path / "moving", **KW, objects=2)
    settings = [json.load(open(os.path.join(d, "manifest.json")))["settings"] for d in (plain, moving)]
    assert settings[1]["objects"] == 2 and "objects" not in settings[0]  # older datasets keep their settings
    records = json.load(open(os.path.join(moving, "train", "manifest.json")))["clips"]
    (clip, record), = records.items()
    assert len(record["objects"]) == 2
    assert all(4 <= np.hypot(*o["velocity_px_per_frame"]) <= 8 for o in record["objects"])  # in pan_speed
    gt = [read_png(os.path.join(d, "train", "gt", clip, "00000002.png")) for d in (plain, moving)]
    changed = (gt[0] != gt[1]).any(axis=2).mean()
    assert 0.05 < changed < 0.9  # the objects cover part of the frame; the camera view is the same clip
    bwd_plain, _ = load_true_flow(true_flow_path(os.path.join(plain, "train"), clip))
    bwd, _ = load_true_flow(true_flow_path(os.path.join(moving, "train"), clip))
    differs = (np.abs(bwd - bwd_plain).max(axis=1) > 1e-6)[1:].mean()
    assert 0.05 < differs < 0.9  # object pixels carry the objects' motion, the rest the camera's
    with pytest.raises(ConfigError, match="objects"):
        build_demo_dataset(tmp_path / "bad", **KW, objects=-1)
