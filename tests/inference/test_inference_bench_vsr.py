"""scripts/bench_vsr.py on a tiny CPU size: the report has the expected rows, positive timings, consistent ratios,
the CPU smoke banner and n/a memory, and the JSON file holds the same numbers."""
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_vsr.py"
TINY = ["--device", "cpu", "--mid", "8", "--blocks", "1", "--frames", "3", "--height", "16", "--width", "16",
        "--train-frames", "3", "--train-height", "16", "--train-width", "16", "--repeats", "2", "--warmup", "1",
        "--train-repeats", "2", "--train-warmup", "1"]
# the smallest MV-VSR part (one alignment, no training table), for the tests of the other methods' rows
METHOD_ROWS_ONLY = ["--device", "cpu", "--mid", "8", "--blocks", "1", "--frames", "2", "--height", "8", "--width", "8",
                    "--alignments", "none", "--train-modes", "--repeats", "1", "--warmup", "0"]


def _load_script():
    spec = importlib.util.spec_from_file_location("bench_vsr_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, capsys, args: list[str]) -> tuple[str, dict]:
    """Run the script with ``args`` plus ``--json``; returns its printed report and the JSON result."""
    out = tmp_path / "bench.json"
    assert _load_script().main(args + ["--json", str(out)]) == 0
    return capsys.readouterr().out, json.loads(out.read_text())


def test_bench_vsr_tiny_cpu_table_and_json(tmp_path, capsys):
    text, result = _run(tmp_path, capsys, TINY + ["--train-modes", "fp32", "bf16", "fp32+channels_last"])

    assert "CPU SMOKE RUN" in text and "NOT the GPU" in text
    assert result["cpu_smoke"] is True and result["device"] == "cpu"
    assert "fps ratio MV / SPyNet" in text and "bf16 / fp32 training" in text

    inference = {r["alignment"]: r for r in result["inference"]}
    assert set(inference) == {"mv", "spynet"}
    for r in inference.values():
        assert r["fps"] > 0 and r["ms_per_clip"] > 0 and r["align_ms"] > 0
        # the share is the ratio of two separately timed medians: consistent, but not bounded by 1 on a busy machine
        assert r["align_share"] == pytest.approx(r["align_ms"] / r["ms_per_clip"])
        assert r["peak_mib"] is None                # no CUDA memory counter on CPU
        assert r["fps"] == pytest.approx(3 / (r["ms_per_clip"] / 1e3))
    assert inference["spynet"]["params"] > inference["mv"]["params"]   # SPyNet adds ~1.44M parameters
    assert result["fps_ratio_mv_over_spynet"] == pytest.approx(inference["mv"]["fps"] / inference["spynet"]["fps"])
    for line in text.splitlines():
        if line.split()[:1] in (["mv"], ["spynet"]):
            assert line.split()[-1] == "n/a"

    training = {r["mode"]: r for r in result["training"]}
    assert list(training) == ["fp32", "bf16", "fp32+channels_last"]
    assert training["fp32"]["ratio_vs_fp32"] == pytest.approx(1.0)
    for r in training.values():
        assert r["iters_per_s"] > 0 and r["ms_per_iter"] > 0
        assert r["ratio_vs_fp32"] == pytest.approx(r["iters_per_s"] / training["fp32"]["iters_per_s"])
        assert any(line.split()[:1] == [r["mode"]] for line in text.splitlines())
    assert result["config"]["mid"] == 8 and result["config"]["height"] == 16


def test_bench_vsr_cpu_defaults_are_the_smoke_size():
    bench = _load_script()
    args = bench.parse_args(["--device", "cpu", "--train-modes"])
    args.alignments = []                            # only resolve the defaults, time nothing
    result = bench.run(args)
    assert (result["config"]["height"], result["config"]["width"], result["config"]["frames"]) == (32, 32, 5)
    assert result["training"] == [] and result["inference"] == []
    assert bench.GPU_DEFAULTS["height"] == 180 and bench.GPU_DEFAULTS["width"] == 320


def test_bench_vsr_ptia_rows_per_dcn_backend(tmp_path, capsys):
    """--ptia: one row per DCN backend; a backend the machine lacks (cuda here) is a named skip, not an error; the DCN
    share counts TBIA's deformable convolutions (one per propagation branch)."""
    from vsrkit.archs.ptia_arch import PTIA
    from vsrkit.ops.dcn import ModulatedDeformConv2d

    text, result = _run(tmp_path, capsys, METHOD_ROWS_ONLY + ["--ptia", "--ptia-mid", "8", "--ptia-blocks", "1",
                                                              "--ptia-backends", "cuda", "torchvision"])
    rows = {r["backend"]: r for r in result["ptia"]}
    assert rows["cuda"] == {"backend": "cuda", "skipped": "DCN backend cuda is not available here"}
    assert "PTIA, DCN backend cuda: skipped" in text
    row = rows["torchvision"]
    net = PTIA(mid_channels=8, num_blocks=1)
    assert row["params"] == sum(p.numel() for p in net.parameters())
    assert row["dcn_modules"] == sum(isinstance(m, ModulatedDeformConv2d) for m in net.modules()) == 4
    assert row["fps"] == pytest.approx(2 / (row["ms_per_clip"] / 1e3)) and 0 < row["dcn_share"] < 1
    assert "DCN backend torchvision: 1 clip of 2 x 8x8 LR -> 32x32" in text


def test_bench_vsr_ptia_needs_sizes_divisible_by_4():
    bench = _load_script()
    with pytest.raises(SystemExit, match="divisible by 4, got 8x10"):
        bench.main(["--device", "cpu", "--frames", "2", "--height", "8", "--width", "10", "--alignments", "none",
                    "--train-modes", "--ptia", "--ptia-mid", "8", "--ptia-blocks", "1"])


def test_bench_vsr_space_time_row(tmp_path, capsys):
    """scripts/bench_vsr.py --msitf: the published MSITF on one tiny window, with its DCN share."""
    text, result = _run(tmp_path, capsys, METHOD_ROWS_ONLY + ["--msitf", "--msitf-height", "8", "--msitf-width", "12"])
    row = result["space_time"]
    assert "1 window of 4 x 8x12 LR -> 7 x 32x48" in text and "MSITF" in text
    assert row["params"] == 5585611 and row["dcn_modules"] == 9  # 3 levels x (interpolation + 2 ConvLSTM aligners)
    assert row["fps"] == pytest.approx(7 / (row["ms_per_window"] / 1e3)) and 0 < row["dcn_share"] < 1
    assert row["peak_mib"] is None


def test_bench_vsr_rcvsr_row(tmp_path, capsys, monkeypatch):
    """scripts/bench_vsr.py --rcvsr: RCVSR on 7 LR frames + 2 key frames, with its DCN share (a compact RCVSR
    stands in for the published 5.7M-parameter one, about 0.4 s per small frame on a CPU)."""
    import functools

    from vsrkit.archs import rcvsr_arch

    monkeypatch.setattr(rcvsr_arch, "RCVSR", functools.partial(rcvsr_arch.RCVSR, num_feat=8, age_blocks=1))
    text, result = _run(tmp_path, capsys, METHOD_ROWS_ONLY + ["--rcvsr", "--rcvsr-height", "16", "--rcvsr-width", "24"])
    row = result["rcvsr"]
    assert "7 x 16x24 LR + 2 key frames -> 1 x 32x48" in text and "RCVSR" in text
    # STDF 1, AligNet 2 x 3 kernels, a DSTA in both branches of every DBRB: 2 upsampler blocks, 1 + 1 AGE chain
    # blocks and the AGE merge (the published net, 2 + 2 AGE chain blocks, has 21)
    assert row["dcn_modules"] == 17
    assert row["fps"] == pytest.approx(1 / (row["ms_per_frame"] / 1e3)) and 0 < row["dcn_share"] < 1
