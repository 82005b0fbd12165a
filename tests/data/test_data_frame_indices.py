"""Sliding-window frame indices for every padding mode."""
import pytest

from vsrkit.data.frame_indices import generate_frame_indices
from vsrkit.errors import ConfigError


@pytest.mark.parametrize("padding,start,end", [
    ("replicate", [0, 0, 0, 1, 2], [7, 8, 9, 9, 9]),
    ("reflection", [2, 1, 0, 1, 2], [7, 8, 9, 8, 7]),
    ("reflection_circle", [4, 3, 0, 1, 2], [7, 8, 9, 6, 5]),
    ("circle", [3, 4, 0, 1, 2], [7, 8, 9, 5, 6]),
])
def test_padding_modes_at_both_ends(padding, start, end):
    assert generate_frame_indices(0, 5, 10, padding) == start
    assert generate_frame_indices(9, 5, 10, padding) == end
    assert generate_frame_indices(5, 5, 10, padding) == [3, 4, 5, 6, 7]


def test_window_of_seven_near_start_and_bad_options():
    assert generate_frame_indices(1, 7, 20, "reflection_circle") == [6, 5, 0, 1, 2, 3, 4]
    assert generate_frame_indices(1, 7, 20, "reflection") == [2, 1, 0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="unknown mode 'mirror'"):
        generate_frame_indices(0, 5, 10, "mirror")
    with pytest.raises(ConfigError, match="odd"):
        generate_frame_indices(0, 4, 10, "replicate")
