"""ClipMetrics: per frame -> mean per clip -> mean over clips, merging rank states, CSV/Markdown tables."""
import csv
import io
import pickle

import pytest

from vsrkit.metrics import ClipMetrics


def _table():
    t = ClipMetrics()
    for v in (30.0, 32.0, 34.0):  # clip "b": 3 frames, mean 32
        t.add("b", "psnr", v)
    t.add("a", "psnr", 20.0)  # clip "a": 1 frame
    t.add("a", "ssim", 0.5)
    t.add("b", "ssim", 0.7)
    t.add("b", "ssim", 0.9)
    return t


def test_means_weigh_clips_equally():
    t = _table()
    assert t.clip_means() == {"a": {"psnr": 20.0, "ssim": 0.5}, "b": {"psnr": 32.0, "ssim": pytest.approx(0.8)}}
    means = t.means()
    assert means["psnr"] == pytest.approx(26.0)  # (20 + 32) / 2, not (20+30+32+34) / 4 = 29
    assert means["ssim"] == pytest.approx(0.65)
    assert t.metrics == ["psnr", "ssim"] and t.clips == ["a", "b"] and t.num_frames("b", "psnr") == 3


def test_merge_of_rank_states_equals_one_table():
    full = _table()
    rank0, rank1 = ClipMetrics(), ClipMetrics()
    for v in (30.0, 32.0):
        rank0.add("b", "psnr", v)
    rank1.add("b", "psnr", 34.0)
    rank1.add("a", "psnr", 20.0)
    rank0.add("a", "ssim", 0.5)
    rank1.add("b", "ssim", 0.7)
    rank0.add("b", "ssim", 0.9)
    states = [pickle.loads(pickle.dumps(r.state_dict())) for r in (rank0, rank1)]  # as gathered across ranks
    merged = ClipMetrics()
    for s in states:
        merged.merge(ClipMetrics.from_state_dict(s))
    for clip, per_metric in full.clip_means().items():
        assert merged.clip_means()[clip] == pytest.approx(per_metric)
    assert merged.means() == pytest.approx(full.means())


def test_state_dict_is_a_plain_copy():
    t = _table()
    state = t.state_dict()
    state["values"]["a"]["psnr"].append(0.0)
    assert t.num_frames("a", "psnr") == 1
    assert isinstance(state, dict) and all(isinstance(v, dict) for v in state["values"].values())


def test_baseline_columns_by_prefix():
    model = _table()
    bicubic = ClipMetrics()
    bicubic.add("a", "psnr", 18.0)
    bicubic.add("b", "psnr", 28.0)
    model.merge(bicubic, prefix="bicubic_")
    assert model.metrics == ["psnr", "ssim", "bicubic_psnr"]
    assert model.means()["bicubic_psnr"] == pytest.approx(23.0)


def test_csv_table():
    t = _table()
    rows = list(csv.reader(io.StringIO(t.to_csv())))
    assert rows == [["clip", "psnr", "ssim"], ["a", "20.0000", "0.5000"], ["b", "32.0000", "0.8000"],
                    ["average", "26.0000", "0.6500"]]
    rows = list(csv.reader(io.StringIO(t.to_csv(columns=["ssim"], digits=2))))
    assert rows[-1] == ["average", "0.65"]


def test_markdown_table_with_missing_cell():
    t = _table()
    t.add("c", "psnr", 40.0)  # clip c has no SSIM
    md = t.to_markdown().splitlines()
    assert md[0] == "| clip | psnr | ssim |"
    assert md[1] == "|---|---:|---:|"
    assert md[4] == "| c | 40.0000 | - |"
    assert md[-1] == "| average | 30.6667 | 0.6500 |"  # ssim averaged over the clips that have it
