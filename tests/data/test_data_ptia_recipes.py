"""docs/ptia.md's data-preparation blocks, run verbatim on tiny generated download trees: each block must end with
the folders its option files read, so every dataset those files name builds and yields frames with GT = 4 x LQ."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vsrkit.builders import build_dataset
from vsrkit.data.storage import write_png, write_yuv420, yuv_file_name
from vsrkit.options import load_options

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "ptia.md"
HR = 64  # LR 16x16: the smallest size every codec here takes


def recipe_blocks() -> dict[str, str]:
    """``{setting: bash block}`` of docs/ptia.md's data-preparation section (the setting is the block's first
    comment, up to the colon)."""
    text = DOC.read_text()
    section = text[text.index("## Data preparation"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return {re.match(r"# ([^:]+):", block).group(1): block for block in blocks}


def clip(seed: int, frames: int, size: tuple[int, int] = (HR, HR)) -> list[np.ndarray]:
    """``frames`` RGB uint8 frames of a smooth random texture panning 1 px/frame."""
    h, w = size
    big = cv2.resize(np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8),
                     (w + frames, h + frames), interpolation=cv2.INTER_CUBIC)
    return [big[t:t + h, t:t + w].copy() for t in range(frames)]


def write_clip(folder: Path, frames: list[np.ndarray], name: str = "{:08d}.png", start: int = 0) -> None:
    for t, frame in enumerate(frames):
        write_png(str(folder / name.format(t + start)), frame)


def reds_download(root: Path) -> None:
    for i, name in enumerate(("000", "001", "011", "015", "020")):  # REDS4 and one training clip
        write_clip(root / "datasets/REDS_download/train_sharp" / name, clip(i, 7))
    write_clip(root / "datasets/REDS_download/val_sharp/000", clip(9, 7))  # becomes 240


def vid4_download(root: Path) -> None:
    write_clip(root / "datasets/Vid4_download/GT/calendar", clip(0, 41), name="frame{}.png", start=1)


def vimeo_download(root: Path) -> None:
    v = root / "datasets/vimeo_septuplet"
    for i, name in enumerate(("00001/0001", "00001/0002", "00002/0001")):
        write_clip(v / "sequences" / name, clip(i, 7), name="im{}.png", start=1)
    (v / "sep_trainlist.txt").write_text("00001/0001\n00002/0001\n")
    (v / "sep_testlist.txt").write_text("00001/0002\n")


def mfqe_download(root: Path) -> None:
    folder = root / "datasets/MFQE18_download"
    folder.mkdir(parents=True)
    for i, (name, (h, w)) in enumerate((("BQSquare", (HR, 96)), ("RaceHorses", (HR, HR)))):
        write_yuv420(str(folder / yuv_file_name(name, w, h, 5)), clip(i, 5, (h, w)))


def cvcp_download(root: Path) -> None:
    for i in range(2):
        write_clip(root / f"datasets/CVCP/GT/{i:03d}", clip(i, 8))


# setting -> (download builder, [(option file, dataset keys it prepares; None = all)], needs the x265 CLI)
SETTINGS = {
    "REDS": (reds_download, [("train/ptia/train_ptia_reds.yml", ["train"]), ("test/ptia/test_ptia_reds4.yml", None)],
             False),
    "Vid4": (vid4_download, [("test/ptia/test_ptia_vid4_bi.yml", None), ("test/ptia/test_ptia_vid4_bd.yml", None)],
             False),
    "Vimeo-90K": (vimeo_download, [("train/ptia/train_ptia_vimeo90k.yml", ["train"])], False),
    "MFQE": (mfqe_download, [("test/ptia/test_ptia_mfqe_hevc_ld.yml", None)], True),
    "CVCP": (cvcp_download, [("train/ptia/train_ptia_cvcp.yml", ["train"])], True),
}
SMALL = {"gt_size": 32}  # the published 256-px crops do not fit the tiny frames


def _roots(section: dict) -> tuple:
    return tuple(str(section.get(k)) for k in ("dataroot", "dataroot_gt", "dataroot_lq"))


def test_every_block_is_checked_and_every_ptia_dataset_is_prepared_by_one():
    assert sorted(recipe_blocks()) == sorted(SETTINGS)
    sections = {}
    for path in sorted((REPO / "options").glob("*/ptia/*.yml")):
        rel = str(path.relative_to(REPO / "options"))
        sections[rel] = load_options(path, is_train=rel.startswith("train/"))["datasets"]
    prepared = {(rel, key) for _, files, _ in SETTINGS.values() for rel, keys in files
                for key in keys or sections[rel]}
    prepared_roots = {_roots(sections[rel][key]) for rel, key in prepared}
    for rel, datasets in sections.items():
        for key, section in datasets.items():
            # a training file's validation sets read the folders of another setting's test sets
            assert (rel, key) in prepared or _roots(section) in prepared_roots, (rel, key)


def run_block(block: str, root: Path) -> None:
    """Run ``block`` with bash in ``root`` (which links the repository's tools) with ``python`` = this Python."""
    for tool in ("scripts", "degradation", "vsrkit"):
        (root / tool).symlink_to(REPO / tool)
    script = f'set -euo pipefail\npython() {{ "{sys.executable}" "$@"; }}\n{block}'
    done = subprocess.run(["bash", "-c", script], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_recipe_block_builds_every_dataset_it_names(setting, tmp_path, monkeypatch):
    download, files, needs_x265 = SETTINGS[setting]
    if needs_x265 and shutil.which("x265") is None:
        pytest.skip("the x265 CLI is not installed (apt-get install x265)")
    download(tmp_path)
    run_block(recipe_blocks()[setting], tmp_path)
    monkeypatch.chdir(tmp_path)
    for rel, keys in files:
        opt = load_options(REPO / "options" / rel, is_train=rel.startswith("train/"))
        for key in keys or list(opt["datasets"]):
            section = dict(opt["datasets"][key])
            if not section.get("test_mode"):
                section.update(SMALL)
            data = build_dataset(section, f"datasets.{key}")
            item = data[0]
            lq, gt = item["lq"], item["gt"]
            assert lq.dim() == 4 and lq.shape[1] == 3, (rel, key, lq.shape)
            assert gt.shape[-2:] == (4 * lq.shape[-2], 4 * lq.shape[-1]), (rel, key, lq.shape, gt.shape)
            assert float(lq.float().std()) > 0, (rel, key)  # real frames, not an empty fill
