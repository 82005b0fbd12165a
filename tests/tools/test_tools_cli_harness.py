"""Issue 14 harness: every command-line tool (``degradation/*``, ``scripts/*``) given bad input exits with status 2
and one line that names the offending file, folder or flag, never a traceback, and changes no input file.

Each row: tool, arguments (``{D}`` = the shared input tree, ``{O}`` = a fresh output folder of the case), the words
the line must contain, and an optional setup. The tools run in-process through ``run_cli`` exactly as their
``__main__`` does (an exception that is not a VsrkitError escapes and fails the row with its traceback); the whole
input tree is hashed before and after every row.
"""
import importlib.util
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vsrkit.data.storage import write_yuv420, yuv_file_name

_spec = importlib.util.spec_from_file_location("tool_helpers", Path(__file__).with_name("tool_helpers.py"))
th = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(th)

NAMES3 = [f"{i:08d}.png" for i in range(3)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """One tree with every kind of input the tools read, some of it deliberately broken."""
    from vsrkit.codec import encode_h264

    d = tmp_path_factory.mktemp("harness") / "data"
    for clip in ("000", "001"):  # HR clips of 32x40: scale 2, 4 divide it, 3 does not
        th.frames(d / "gt" / clip, NAMES3, (32, 40))
    rng = np.random.default_rng(0)
    for clip in ("a",):  # LR clips for compress (even sizes)
        (d / "lr" / clip).mkdir(parents=True)
        for name in NAMES3:
            cv2.imwrite(str(d / "lr" / clip / name), rng.integers(0, 256, (32, 48, 3), dtype=np.uint8))
    th.frames(d / "mixed", NAMES3)  # frames next to a clip folder
    th.frames(d / "mixed" / "clip", NAMES3)
    th.frames(d / "vid4" / "GT" / "calendar", [f"f{i}.png" for i in range(41)])
    th.frames(d / "vid4" / "BIx4" / "calendar", [f"f{i}.png" for i in range(40)], (2, 2))
    th.frames(d / "reds" / "train_sharp" / "000", NAMES3)
    th.frames(d / "reds" / "val_sharp" / "val", NAMES3)
    th.frames(d / "vimeo" / "sequences" / "00001" / "0001", [f"im{i}.png" for i in range(1, 8)])
    (d / "vimeo" / "sep_trainlist.txt").write_text("00001/0001\n")
    (d / "vimeo" / "sep_testlist.txt").write_text("00001/0001\n")
    (d / "yuv").mkdir()
    write_yuv420(str(d / "yuv" / yuv_file_name("Seq", 16, 16, 2)), [np.zeros((16, 16, 3), np.uint8)] * 2)
    with open(d / "yuv" / yuv_file_name("Cut", 16, 16, 3), "wb") as f:  # 3 frames by name, 2 in the file
        f.write(bytes(16 * 16 * 3 // 2 * 2))
    th.frames(d / "vsd4k" / "game_15s" / "DIV2K_train_HR", ["0001.png"])
    encode_h264(rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8), str(d / "in.mp4"), crf=30)
    (d / "opt.yml").write_text("name: tiny\nscale: 4\nnetwork_g: {type: MVVSR, mid_channels: 4, num_blocks: 1}\n")
    (d / "net_g.pth").write_bytes(b"not loaded: the rows fail before")
    return d


def _no_x265(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "x265" else real_which(name, *a, **k))


VIDEO = ["--opt", "{D}/opt.yml", "--model", "{D}/net_g.pth", "--input", "{D}/in.mp4"]
CASES = [
    # tool, argv, words of the error line, setup
    ("prepare_vid4", ["--input", "{D}/vid4", "--output", "{D}/vid4", "--overwrite"], ["--output", "same as --input"]),
    ("prepare_vid4", ["--input", "{D}/vid4", "--output", "{D}/vid4/out"], ["is inside --input"]),
    ("prepare_vid4", ["--input", "{D}/vid4", "--output", "{O}", "--mode", "move"],
     ["vid4/BIx4/calendar", "40 frames but GT has 41"]),
    ("prepare_vid4", ["--input", "{D}/gt", "--output", "{O}"], ["gt", "no GT/ folder"]),
    ("prepare_reds", ["--input", "{D}/reds", "--output", "{D}"], ["--input", "is inside --output"]),
    ("prepare_reds", ["--input", "{D}/reds", "--output", "{O}", "--mode", "move"],
     ["val_sharp/val", "not a REDS validation clip"]),
    ("prepare_vimeo90k", ["--input", "{D}/vimeo", "--output", "{D}/vimeo/sequences", "--overwrite"],
     ["--output", "same as --input sequences/"]),
    ("prepare_vimeo90k", ["--input", "{D}/vimeo", "--output", "{O}", "--split", "fast=missing.txt"],
     ["missing.txt", "list file not found"]),
    ("prepare_mfqev2", ["--raw", "{D}/yuv", "--split", "train", "--output", "{D}/yuv"], ["is inside --raw"]),
    ("prepare_mfqev2", ["--raw", "{D}/yuv", "--split", "train", "--output", "{O}"], ["Cut_16x16_3.yuv"]),
    ("prepare_vsd4k", ["--input", "{D}/vsd4k", "--output", "{D}/vsd4k/out"], ["is inside --input"]),
    ("prepare_vsd4k", ["--input", "{D}/missing", "--output", "{O}"], ["missing", "not found"]),
    ("make_lmdb", ["--input", "{D}/gt", "--output", "{D}/gt/x.lmdb", "--no-progress"], ["is inside --input"]),
    ("make_lmdb", ["--input", "{D}/mixed", "--output", "{O}/x.lmdb", "--no-progress"],
     ["mixed", "frames of its own next to clip folders"]),
    ("make_meta_info", ["--input", "{D}/missing", "--output", "{O}/m.txt"], ["--input", "missing"]),
    ("../degradation/make_lr", ["--input", "{D}/gt", "--output", "{D}/gt", "--mode", "bi"], ["same as --input"]),
    ("../degradation/make_lr", ["--input", "{D}/gt", "--output", "{O}", "--mode", "bi", "--scale", "3"],
     ["gt/000/00000000.png", "40x32 is not a multiple of --scale 3", "crop"]),
    ("../degradation/make_lr", ["--input", "{D}/missing", "--output", "{O}", "--mode", "bi"],
     ["missing", "not found"]),
    ("../degradation/compress", ["--codec", "h264", "--input", "{D}/lr", "--output", "{D}/lr/c"],
     ["is inside --input"]),
    ("../degradation/compress", ["--codec", "hevc", "--hevc-backend", "x265", "--input", "{D}/lr", "--output", "{O}"],
     ["--hevc-backend x265", "not installed"], _no_x265),
    ("../degradation/compress", ["--codec", "hevc", "--hevc-backend", "hm", "--hm-bin", "{D}/TAppEncoder",
                                 "--hm-cfg", "{D}/opt.yml", "--input", "{D}/lr", "--output", "{O}"],
     ["TAppEncoder", "not found"]),
    ("../degradation/compress", ["--codec", "h264", "--input", "{D}/missing", "--output", "{O}"], ["missing"]),
    ("infer_video", VIDEO + ["--output", "{D}/in.mp4"], ["--output", "same as --input"]),
    ("infer_video", VIDEO + ["--output", "{D}/net_g.pth"], ["same as --model"]),
    ("infer_video", VIDEO + ["--output", "{O}/x.txt"], ["x.txt", "not a video file name", ".mp4"]),
    ("infer_video", VIDEO + ["--output", "{D}"], ["--input", "is inside --output"]),
    ("infer_video", ["--opt", "{D}/opt.yml", "--model", "{D}/net_g.pth", "--input", "{D}/missing.mp4", "--output",
                     "{O}/o.mp4"], ["missing.mp4", "not found"]),
    ("run_ablation", ["--opt", "{D}/missing.yml", "--iters", "1", "--out", "{O}"], ["missing.yml"]),
]


def _id(case):
    return f"{os.path.basename(case[0])}:{'|'.join(case[2])[:40]}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_bad_input_gives_one_line_and_changes_nothing(case, data, tmp_path, capsys, monkeypatch):
    tool, argv, words = case[:3]
    if len(case) > 3:
        case[3](monkeypatch)
    out = tmp_path / "out"
    argv = [a.replace("{D}", str(data)).replace("{O}", str(out)) for a in argv]
    before = th.snapshot(data)
    code, _, err = th.run_tool(os.path.normpath(os.path.join("scripts", f"{tool}.py")), argv, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word.replace("{D}", str(data)) in err, (word, err)
    assert th.snapshot(data) == before
    assert not out.exists() or not os.listdir(out), sorted(os.listdir(out))
    assert not th.leftovers(data) and not th.leftovers(tmp_path)


def test_binary_options_file_gives_one_line(data, tmp_path, capsys):
    binary = tmp_path / "binary.yml"
    binary.write_bytes(bytes(range(256)))
    code, _, err = th.run_tool("scripts/infer_video.py", ["--opt", binary, "--model", data / "net_g.pth", "--input",
                                                          data / "in.mp4", "--output", tmp_path / "o.mp4"], capsys)
    assert code == 2 and "binary.yml" in err and err.count("\n") == 1
