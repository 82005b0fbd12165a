"""Issue 14, "one clear line" items of the tools whose behaviour is more than an error line: conflicting x264
parameters are refused instead of rewritten, and make_lmdb on a single clip folder names the clip after it."""
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from vsrkit.errors import ConfigError

_spec = importlib.util.spec_from_file_location("tool_helpers", Path(__file__).with_name("tool_helpers.py"))
th = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(th)

CLIP = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)


def test_conflicting_x264_params_are_refused_not_rewritten(tmp_path):
    from vsrkit.codec import encode_h264

    out = tmp_path / "a.mp4"
    with pytest.raises(ConfigError, match=r"min-keyint=50 is larger than keyint/2\+1 = 3 for keyint=5"):
        encode_h264(CLIP, str(out), x264_params="keyint=5:min-keyint=50")
    # a value x264 clamps is found in its settings SEI, and the file is not left behind under its name
    with pytest.raises(ConfigError, match="asks for rc-lookahead=300 but the encoder used rc_lookahead=250"):
        encode_h264(CLIP, str(out), x264_params="rc-lookahead=300")
    assert os.listdir(tmp_path) == []
    # values x264 reports in another form are not compared; consistent ones pass
    result = encode_h264(CLIP, str(out), x264_params="keyint=10:min-keyint=4:b-pyramid=normal:no-mbtree=1")
    assert result.encoder_options["keyint"] == "10" and result.encoder_options["keyint_min"] == "4"


def test_make_lmdb_single_clip_folder_is_named_after_it(tmp_path, capsys):
    from vsrkit.data.storage import LmdbStorage

    th.frames(tmp_path / "calendar", [f"{i:08d}.png" for i in range(3)])
    code, out, err = th.run_tool("scripts/make_lmdb.py", ["--input", tmp_path / "calendar", "--output",
                                                          tmp_path / "calendar.lmdb", "--no-progress"], capsys)
    assert code == 0, err
    store = LmdbStorage(str(tmp_path / "calendar.lmdb"))
    assert store.clips() == ["calendar"] and store.num_frames("calendar") == 3
    assert (tmp_path / "calendar.lmdb" / "meta_info.txt").read_text().startswith("calendar/00000000 (8,8,3)")
