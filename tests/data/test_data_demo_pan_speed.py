"""The demo builder's camera speed range (``pan_speed``, used by the PTIA demo for fast motion): recorded only when
not the default, so datasets built before it stay valid; the default draws exactly what it drew before."""
import numpy as np
import pytest

from vsrkit.data.demo_builder import DEFAULT_PAN_SPEED, _settings, camera_path
from vsrkit.errors import ConfigError

ARGS = dict(num_train_clips=2, num_val_clips=1, num_frames=6, hr_size=64, scale=4, crf=25, seed=0, bf=0, ref=1,
            preset="medium")


def test_settings_record_only_a_non_default_range():
    assert "pan_speed" not in _settings(**ARGS)
    assert "pan_speed" not in _settings(**ARGS, pan_speed=[0.5, 6])
    assert _settings(**ARGS, pan_speed=(4, 12))["pan_speed"] == [4.0, 12.0]
    for bad in ([5, 2], [-1, 2], [1, 2, 3]):
        with pytest.raises(ConfigError, match="pan_speed"):
            _settings(**ARGS, pan_speed=bad)


def test_camera_speed_follows_the_range():
    photo_hw = (2000, 2000)  # room for any path: nothing is slowed down
    default = camera_path(np.random.default_rng(3), 8, (64, 64), photo_hw)
    explicit = camera_path(np.random.default_rng(3), 8, (64, 64), photo_hw, pan_speed=DEFAULT_PAN_SPEED)
    np.testing.assert_array_equal(default[1], explicit[1])
    for seed in range(5):
        info = camera_path(np.random.default_rng(seed), 8, (64, 64), photo_hw, pan_speed=(4, 12))[4]
        assert 4 <= np.hypot(*info["pan_px_per_frame"]) <= 12
