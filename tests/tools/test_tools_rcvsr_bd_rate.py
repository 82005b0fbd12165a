"""End to end on tiny data: raw YUV -> RCVSR key frames / LR streams / full-resolution anchor at three QPs
(degradation/make_rcvsr_data.py) -> test.py tables (an RCVSR whose residual head is zero, so its output is the
published bicubic skip) -> scripts/bd_rate.py table and RD plots."""
import importlib.util
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from vsrkit import test as test_launcher
from vsrkit.data.storage import write_yuv420, yuv_file_name
from vsrkit.data.synthetic import translating_clip
from vsrkit.registry import ARCHS

_spec = importlib.util.spec_from_file_location("tool_helpers", Path(__file__).with_name("tool_helpers.py"))
th = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(th)

pytestmark = pytest.mark.skipif(shutil.which("x265") is None, reason="x265 command-line encoder not installed")

QPS = (22, 32, 42)
N, H, W = 2, 64, 64


def _tool(rel, argv, capsys):
    code, out, err = th.run_tool(rel, [str(a) for a in argv], capsys)
    assert code == 0, err
    return out


def _test_options(tmp, qp, weights):
    return {
        "name": f"rcvsr_qp{qp}", "scale": 2, "num_gpu": 0, "manual_seed": 7,
        "network_g": {"type": "RCVSR", "num_feat": 8},
        "path": {"pretrain_network_g": str(weights), "param_key_g": "params", "results_root": str(tmp / f"res{qp}")},
        "datasets": {"test": {"name": "tiny", "type": "MFQEv2Dataset", "dataroot_gt": str(tmp / "raw"),
                              "dataroot_lq": str(tmp / f"LR_QP{qp}"), "dataroot_key": str(tmp / f"KEY_QP{qp + 5}"),
                              "io_backend": {"type": "yuv"}, "color": "y", "scale": 2, "num_frame": 7,
                              "padding": "replicate", "test_mode": True, "gt_size": None,
                              "manifest_check": {"qp": qp, "key_qp": qp + 5}}},
        "val": {"rounding": "none", "compare_bicubic": True,
                "metrics": {"psnr_y": {"type": "psnr", "crop_border": 0, "y_mode": "yuv", "rounding": "none"}}},
    }


def test_raw_yuv_to_bd_rate_table(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    for i, name in enumerate(("SeqA", "SeqB")):
        clip, _, _ = translating_clip(N, H, W, (1, 1), seed=i, smooth=6.0)
        write_yuv420(str(tmp_path / "raw" / yuv_file_name(name, W, H, N)), clip)
    tool = "degradation/make_rcvsr_data.py"
    for qp in QPS:
        common = ["--raw", tmp_path / "raw", "--no-progress", "--preset", "ultrafast"]
        _tool(tool, ["keyframes", "--qp", qp + 5, "--output", tmp_path / f"KEY_QP{qp + 5}", *common], capsys)
        _tool(tool, ["lr", "--qp", qp, "--keys", tmp_path / f"KEY_QP{qp + 5}", "--output", tmp_path / f"LR_QP{qp}",
                     *common], capsys)
        _tool(tool, ["anchor", "--qp", qp, "--output", tmp_path / f"ANCHOR_QP{qp}", *common], capsys)

    torch.manual_seed(0)
    net = ARCHS.get("RCVSR")(num_feat=8)
    torch.nn.init.zeros_(net.age.conv_out.weight)
    torch.nn.init.zeros_(net.age.conv_out.bias)
    weights = tmp_path / "net_g.pth"
    torch.save({"params": net.state_dict()}, weights)
    tables = {}
    for qp in QPS:
        opt = tmp_path / f"test_qp{qp}.yml"
        opt.write_text(yaml.safe_dump(_test_options(tmp_path, qp, weights)))
        assert test_launcher.test_main(["-opt", str(opt)]) == 0
        tables[qp] = tmp_path / f"res{qp}" / "tiny_metrics.csv"
        rows = dict(line.split(",", 1) for line in tables[qp].read_text().splitlines())
        assert rows["clip"] == "psnr_y,bicubic_psnr_y"

    out = tmp_path / "bd"
    printed = _tool("scripts/bd_rate.py", [
        "--anchor", *[tmp_path / f"ANCHOR_QP{qp}" for qp in QPS],
        "--test", *[f"{tmp_path / f'LR_QP{qp}'}={tables[qp]}" for qp in QPS],
        "--output", out, "--baseline"], capsys)
    md = (out / "bd_rate.md").read_text()
    assert "approximation of HM" in md and md in printed
    lines = (out / "bd_rate.csv").read_text().splitlines()
    assert lines[0] == ("sequence,class,RCVSR BD-rate (%),RCVSR BD-PSNR (dB),bicubic BD-rate (%),"
                        "bicubic BD-PSNR (dB)")
    body = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in body] == ["SeqA", "SeqB", "class 64x64 average", "average"]
    values = np.array([[float(v) for v in r[2:]] for r in body])
    assert np.isfinite(values).all()
    np.testing.assert_allclose(values[2], values[:2].mean(axis=0), atol=1e-5)
    for seq in ("SeqA", "SeqB"):
        img = cv2.imread(str(out / f"rd_{seq}.png"))
        assert img is not None and img.shape == (480, 640, 3) and (img < 200).any()

    # the rate is every coded stream: key frames + LR frames, per frame
    import json
    man = json.loads((tmp_path / "LR_QP32" / "manifest.json").read_text())
    seq = man["clips"]["SeqA"]
    assert seq["bits"] == seq["bits_lr"] + seq["bits_key"] and seq["frames"] == N

    # an anchor made by another encoder is refused with one line
    alien = tmp_path / "ANCHOR_alien"
    shutil.copytree(tmp_path / f"ANCHOR_QP{QPS[0]}", alien)
    text = (alien / "manifest.json").read_text().replace("approximation of HM", "something else")
    (alien / "manifest.json").write_text(text)
    code, _, err = th.run_tool("scripts/bd_rate.py", [
        "--anchor", alien, *[tmp_path / f"ANCHOR_QP{qp}" for qp in QPS[1:]],
        "--test", *[f"{tmp_path / f'LR_QP{qp}'}={tables[qp]}" for qp in QPS], "--output", tmp_path / "bd2"], capsys)
    assert code == 2 and "different encoders" in err and len(err.strip().splitlines()) == 1
