#!/usr/bin/env python3
"""Lay out VSD4K videos for VSD4KDataset.

    python scripts/prepare_vsd4k.py --input datasets/vsd4k_download --output datasets/VSD4K --scales 2 3 4

Input (the STDO / CaFM release): one folder per video ``<topic>_<length>`` (``game_15s``, ``inter_45s``,
``vlog_15s``...) with ``DIV2K_train_HR/0001.png...`` and ``DIV2K_train_LR_bicubic/X<s>/0001x<s>.png...``
(``--hr-subdir`` / ``--lr-subdir`` for other names). Output: ``HR/<video>/00000000.png`` and
``LR_bicubic/X<s>/<video>/00000000.png`` (natural order, 0-based), with the frame counts checked to agree, and
``meta_info_vsd4k.txt`` generated from the HR folders.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.data.meta_info import scan_storage, write_meta_info  # noqa: E402
from vsrkit.data.prepare import MODES, image_files, place_clip, staged_output  # noqa: E402
from vsrkit.data.storage import DiskStorage  # noqa: E402
from vsrkit.errors import DataError  # noqa: E402
from vsrkit.folders import check_separate  # noqa: E402


def prepare_vsd4k(input_dir: str, output: str, scales=(2, 3, 4), hr_subdir: str = "DIV2K_train_HR",
                  lr_subdir: str = "DIV2K_train_LR_bicubic", mode: str = "symlink", overwrite: bool = False) -> dict:
    """Place every video's HR and LR frames; returns ``{video: frames}``. Everything is checked before a source file
    is moved (``mode='move'``): a failed run leaves ``input_dir`` as it was."""
    check_separate(output, {"--input": input_dir})
    if not os.path.isdir(input_dir):
        raise DataError(f"{input_dir}: folder not found; point --input at the VSD4K download")
    videos = sorted(d for d in os.listdir(input_dir) if os.path.isdir(os.path.join(input_dir, d, hr_subdir)))
    if not videos:
        raise DataError(f"{input_dir}: no <video>/{hr_subdir}/ folders; check --input and --hr-subdir")
    counts = {}
    with staged_output(output, overwrite) as tmp:
        for video in videos:
            n = place_clip(os.path.join(input_dir, video, hr_subdir), os.path.join(tmp, "HR", video), mode)
            counts[video] = n
            for s in scales:
                src = os.path.join(input_dir, video, lr_subdir, f"X{s}")
                if not os.path.isdir(src):
                    continue
                if len(image_files(src)) != n:
                    raise DataError(f"{src}: {len(image_files(src))} LR frames but {n} HR frames; re-download it")
                place_clip(src, os.path.join(tmp, "LR_bicubic", f"X{s}", video), mode)
        write_meta_info(os.path.join(tmp, "meta_info_vsd4k.txt"), scan_storage(DiskStorage(os.path.join(tmp, "HR"))))
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--scales", type=int, nargs="*", default=[2, 3, 4])
    parser.add_argument("--hr-subdir", default="DIV2K_train_HR")
    parser.add_argument("--lr-subdir", default="DIV2K_train_LR_bicubic")
    parser.add_argument("--mode", choices=MODES, default="symlink",
                        help="how frames are placed (default symlink); move happens only after every check has passed "
                             "and is undone on failure")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    counts = prepare_vsd4k(args.input, args.output, args.scales, args.hr_subdir, args.lr_subdir, args.mode,
                           args.overwrite)
    print(", ".join(f"{k}: {v} frames" for k, v in counts.items()) + f" -> {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
