"""scripts/motion_stats.py on a tiny x264-default demo tree: holes per frame type, EPE against the true flow."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from vsrkit.codec import load_motion
from vsrkit.data.demo_builder import build_demo_dataset
from vsrkit.data.demo_truth import load_true_flow, true_flow_path
from vsrkit.errors import ConfigError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "motion_stats.py"


def load_script():
    spec = importlib.util.spec_from_file_location("motion_stats_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return build_demo_dataset(tmp_path_factory.mktemp("ms") / "ds", num_train_clips=1, num_val_clips=1,
                              num_frames=8, hr_size=64, bf=3, ref=3, seed=1)


def rows(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 3 and cells[0] in ("I", "P", "B", "all"):
            out[(cells[0], cells[1])] = cells
    return out


def test_true_flow_is_written_and_matches_the_codec_where_it_has_vectors(tree):
    split = os.path.join(tree, "val")
    clip = sorted(os.listdir(os.path.join(split, "lq")))[0]
    bwd, fwd = load_true_flow(true_flow_path(split, clip))
    motion = load_motion(os.path.join(split, "motion", f"{clip}.npz"))
    assert bwd.shape == fwd.shape == motion.mv_bwd.shape and np.all(bwd[0] == 0) and np.all(fwd[-1] == 0)
    t = len(bwd)
    err = np.linalg.norm(motion.mv_bwd[1:] - bwd[1:], axis=1)[motion.valid_bwd[1:]]
    assert err.size and np.median(err) < 0.5 < float(np.linalg.norm(bwd[1:], axis=1).mean()) + 0.5
    assert t == 8


def test_motion_stats_prints_holes_and_epe(tree, capsys):
    script = load_script()
    assert script.main(["--root", tree, "--split", "val", "train", "--fill", "opposite,temporal,spatial",
                        "temporal"]) == 0
    text = capsys.readouterr().out
    assert "bf=3" in text and "holes %" in text and "opposite,temporal,spatial" in text
    table = rows(text.split("## ")[1])
    header = [c.strip() for c in next(ln for ln in text.splitlines() if ln.startswith("| type")).strip("|").split("|")]
    col = {name: i for i, name in enumerate(header)}
    assert table[("I", "fwd")][col["holes %"]] == "100.0"             # an I-frame has no vector
    assert table[("P", "fwd")][col["holes %"]] == "100.0"             # a P-frame none towards t+1
    for d in ("bwd", "fwd"):
        row = table[("all", d)]
        assert float(row[col["opposite,temporal,spatial"]]) <= float(row[col["proxy"]]) + 1e-9
        assert float(row[col["proxy"]]) <= float(row[col["raw"]]) + 1e-9
    with pytest.raises(ConfigError, match="--fill"):
        script.main(["--root", tree, "--fill", "nearest"])


def test_named_camera_speeds():
    from vsrkit.data.demo_builder import CAMERA_SPEEDS, _settings

    kw = dict(num_train_clips=1, num_val_clips=1, num_frames=4, hr_size=64, scale=4, crf=25, seed=0, bf=3, ref=3,
              preset="medium")
    assert "pan_speed" not in _settings(**kw, pan_speed="demo")          # the demo's manifest stays as it was
    assert _settings(**kw, pan_speed="fast")["pan_speed"] == list(CAMERA_SPEEDS["fast"])
    assert _settings(**kw, pan_speed="fast") == _settings(**kw, pan_speed=[6, 16])
    with pytest.raises(ConfigError, match="pan_speed"):
        _settings(**kw, pan_speed="warp")


def test_quality_per_frame_type(tree, capsys):
    script = load_script()
    gt = os.path.join(tree, "val", "gt")
    assert script.main(["--root", tree, "--fill", "opposite", "--results", f"perfect={gt}"]) == 0
    text = capsys.readouterr().out.split("Y-PSNR")[1]
    table = rows(text)
    assert table[("all", "8")][2].replace(".", "").isdigit() and table[("all", "8")][3] == "inf"   # bicubic, GT
    assert ("I", "1") in table
    with pytest.raises(ConfigError, match="--results"):
        script.main(["--root", tree, "--results", "nofolder"])
