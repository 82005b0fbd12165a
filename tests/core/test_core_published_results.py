"""val.published_results: a paper's per-clip numbers beside test.py's table, only when the clips are the paper's."""
import pytest

from vsrkit.errors import ConfigError
from vsrkit.launch.published import beside_published, check_published
from vsrkit.metrics import ClipMetrics

PUBLISHED = {"source": "paper, table 2", "columns": {"psnr": {"a": 30.0, "b": 20.0, "average": 25.0}}}


def _table(clips, values):
    table = ClipMetrics()
    for clip, value in zip(clips, values):
        table.add(clip, "psnr", value, 0)
        table.add(clip, "ssim", 0.5, 0)
    return table


def test_printed_beside_the_measured_numbers_with_the_difference():
    text = beside_published(_table(["a", "b"], [31.0, 19.5]), PUBLISHED)
    lines = text.splitlines()
    assert lines[0] == "published results: paper, table 2"
    assert lines[1] == "| clip | psnr | published | diff |"
    assert lines[3:] == ["| a | 31.000 | 30.000 | +1.000 |", "| b | 19.500 | 20.000 | -0.500 |",
                         "| average | 25.250 | 25.000 | +0.250 |"]


def test_matched_by_the_last_path_component_and_only_for_the_published_clips():
    assert "| BIx4/a | 31.000 | 30.000 |" in beside_published(_table(["BIx4/a", "BIx4/b"], [31, 20]), PUBLISHED)
    assert beside_published(_table(["a"], [31.0]), PUBLISHED) is None  # a subset: averages not comparable
    assert beside_published(_table(["a", "b", "c"], [1, 2, 3]), PUBLISHED) is None
    assert beside_published(_table(["x/a", "y/a", "b"], [1, 2, 3]), PUBLISHED) is None  # ambiguous names
    assert beside_published(_table(["a", "b"], [1, 2]), None) is None


def test_columns_must_name_scored_metrics():
    check_published(PUBLISHED, ["psnr", "ssim"])
    check_published(None, ["psnr"])
    with pytest.raises(ConfigError, match=r"val.published_results.columns.psnr: not a label of val.metrics"):
        check_published(PUBLISHED, ["psnr_y"])
    with pytest.raises(ConfigError, match="no clip values"):
        check_published({"columns": {"psnr": {"average": 1.0}}}, ["psnr"])
