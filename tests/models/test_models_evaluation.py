"""Evaluation: (clip, frame) grouping, per-clip then over-clip means, every scorer against hand-computed values, and
sharded ranks merging to the single-process result."""
import math

import numpy as np
import pytest
import torch

from vsrkit.errors import ConfigError
from vsrkit.metrics import ClipMetrics
from vsrkit.models.evaluation import build_scorers, evaluate, frames_for_scoring
from vsrkit.models.prediction import Prediction


def _pred(clip, ids, out, gt, baseline=None):
    ids = torch.tensor([ids])
    return Prediction(out[None], gt[None], [clip], ids, baseline[None] if baseline is not None else None)


def _psnr(mse):
    return 10 * math.log10(255 ** 2 / mse)


def test_windows_of_a_clip_are_one_clip_and_each_frame_counts_once():
    gt = torch.zeros(1, 3, 4, 4)
    frame = {0: 10, 1: 20, 2: 40}  # constant error (in 0..255 units) of each frame
    preds = [_pred("a", [f], torch.full((1, 3, 4, 4), v / 255), gt) for f, v in frame.items()]
    preds.append(_pred("a", [1], torch.full((1, 3, 4, 4), 99 / 255), gt))  # frame 1 again: not scored
    preds.append(_pred("b", [0], torch.full((1, 3, 4, 4), 5 / 255), gt))
    table = evaluate(lambda p: p, preds, build_scorers({"psnr": {}}), compare_baseline=False)
    clip_a = np.mean([_psnr(v * v) for v in frame.values()])
    assert table.num_frames("a", "psnr") == 3
    assert table.clip_means()["a"]["psnr"] == pytest.approx(clip_a)
    assert table.means()["psnr"] == pytest.approx((clip_a + _psnr(25)) / 2)  # mean over clips, not frames


def test_overlapping_frames_inside_one_prediction_are_scored_once():
    gt = torch.zeros(4, 3, 4, 4)
    out = torch.stack([torch.full((3, 4, 4), v / 255) for v in (10, 20, 30, 77)])
    table = evaluate(lambda p: p, [_pred("a", [0, 1, 2, 2], out, gt)], build_scorers({"psnr": {}}), False)
    assert table.num_frames("a", "psnr") == 3
    assert table.clip_means()["a"]["psnr"] == pytest.approx(np.mean([_psnr(100), _psnr(400), _psnr(900)]))


def test_rounding_truncate_and_float_scorers():
    gt = torch.zeros(1, 1, 2, 2)
    out = torch.full((1, 1, 2, 2), 10.6 / 255)
    scorers = build_scorers({"r": {"type": "psnr", "y_mode": "yuv"},
                             "t": {"type": "psnr", "y_mode": "yuv", "rounding": "truncate"},
                             "f": {"type": "psnr", "y_mode": "yuv", "rounding": "none"}})
    table = evaluate(lambda p: p, [_pred("a", [0], out, gt)], scorers, False)
    m = table.means()
    assert m["r"] == pytest.approx(_psnr(11 ** 2))
    assert m["t"] == pytest.approx(_psnr(10 ** 2))
    assert m["f"] == pytest.approx(_psnr(10.6 ** 2), rel=1e-6)
    # float scoring is unclamped: an output above 1 keeps its error
    over = frames_for_scoring(torch.full((1, 1, 1, 1), 1.2), "none")
    assert over[0, 0, 0, 0] == pytest.approx(306.0)


def test_channel_mean_psnr_is_the_mean_of_per_channel_psnrs():
    gt = torch.zeros(1, 3, 2, 2)
    out = torch.stack([torch.full((2, 2), v / 255) for v in (1, 2, 4)])[None]
    scorers = build_scorers({"all": {"type": "psnr"}, "per_channel": {"type": "psnr", "channel_mean": True}})
    m = evaluate(lambda p: p, [_pred("a", [0], out, gt)], scorers, False).means()
    assert m["all"] == pytest.approx(_psnr((1 + 4 + 16) / 3))
    assert m["per_channel"] == pytest.approx(np.mean([_psnr(1), _psnr(4), _psnr(16)]))
    assert m["per_channel"] - m["all"] > 0.5


def test_y_bt601_scorer_matches_the_formula():
    rgb = torch.tensor([200.0, 100.0, 50.0]).view(1, 3, 1, 1).expand(1, 3, 12, 12) / 255
    gt = torch.zeros(1, 3, 12, 12)
    m = evaluate(lambda p: p, [_pred("a", [0], rgb, gt)], build_scorers({"y": {"type": "psnr", "y_mode": "y_bt601"}}),
                 False).means()
    y = 16 + (65.481 * 200 + 128.553 * 100 + 24.966 * 50) / 255
    assert m["y"] == pytest.approx(_psnr((y - 16) ** 2), abs=1e-3)


def test_pooled_mse_psnr_over_frames_and_clips():
    gt = torch.zeros(1, 1, 2, 2)
    preds = [_pred("a", [0], torch.full((1, 1, 2, 2), 2 / 255), gt), _pred("a", [1], torch.full((1, 1, 2, 2), 4 / 255), gt),
             _pred("b", [0], torch.full((1, 1, 2, 2), 6 / 255), gt)]
    table = evaluate(lambda p: p, preds, build_scorers({"pooled": {"type": "psnr_pooled", "y_mode": "yuv"}}), False)
    assert table.clip_means()["a"]["pooled"] == pytest.approx(_psnr((4 + 16) / 2))
    assert table.means()["pooled"] == pytest.approx(_psnr(((4 + 16) / 2 + 36) / 2))  # pooled MSE, then PSNR


def test_baseline_columns_and_published_marks():
    gt = torch.zeros(1, 3, 4, 4)
    pred = _pred("a", [0], torch.full((1, 3, 4, 4), 1 / 255), gt, baseline=torch.full((1, 3, 4, 4), 2 / 255))
    table = evaluate(lambda p: p, [pred], build_scorers({"psnr": {"published": True}}), True)
    assert table.metrics == ["psnr", "bicubic_psnr"]
    assert table.means()["bicubic_psnr"] == pytest.approx(_psnr(4))
    assert table.to_markdown(marked=["psnr"]).startswith("| clip | psnr† | bicubic_psnr |")


def test_sharded_ranks_merge_to_the_single_process_result():
    gen = torch.Generator().manual_seed(0)
    preds = [_pred(f"c{i % 3}", [i // 3], torch.rand(1, 3, 12, 12, generator=gen), torch.rand(1, 3, 12, 12, generator=gen))
             for i in range(9)]
    scorers = build_scorers({"psnr": {}, "ssim": {"type": "ssim"}, "pooled": {"type": "psnr_pooled"}})
    single = evaluate(lambda p: p, preds, scorers, False)
    merged = ClipMetrics()
    for rank in range(2):  # build_val_loader's shards: items rank, rank + world_size, ...
        merged.merge(ClipMetrics.from_state_dict(evaluate(lambda p: p, preds[rank::2], scorers, False).state_dict()))
    assert merged.means() == pytest.approx(single.means())
    for clip, values in single.clip_means().items():
        assert merged.clip_means()[clip] == pytest.approx(values)


def test_scorer_options_are_checked():
    with pytest.raises(ConfigError, match=r"val.metrics.p.rounding: 'ceil' is not one of round, truncate, none"):
        build_scorers({"p": {"type": "psnr", "rounding": "ceil"}})
    with pytest.raises(ConfigError, match=r"val.metrics.p: unknown key 'crop' for calculate_psnr; valid keys: channel_mean, crop_border"):
        build_scorers({"p": {"type": "psnr", "crop": 4}})
    with pytest.raises(ConfigError, match=r"unknown metric 'psnrr'"):
        build_scorers({"p": {"type": "psnrr"}})
