#!/usr/bin/env python3
"""Prepare REDS from its official download layout.

    python scripts/prepare_reds.py --input datasets/REDS_download --output datasets/REDS [--mode symlink]

Input (official): ``train_sharp/000..239/00000000.png``, ``val_sharp/000..029/...`` and the same for each LQ set
present (``train_sharp_bicubic/X4``, ``val_sharp_bicubic/X4``). Output: ``train_sharp/000..269`` with the official
validation clips renamed 240..269 (the BasicSR convention), the same for ``train_sharp_bicubic/X4``, and meta-info
files generated from the result in ``meta_info/``: ``reds_all.txt``, ``reds_train_REDS4_excluded.txt``,
``reds_REDS4.txt`` (000, 011, 015, 020), ``reds_train_official_excluded.txt``, ``reds_official_val.txt`` (240..269).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.data.meta_info import scan_storage, write_meta_info  # noqa: E402
from vsrkit.data.prepare import MODES, place_clip, staged_output  # noqa: E402
from vsrkit.data.reds_dataset import OFFICIAL_VAL, REDS4  # noqa: E402
from vsrkit.data.storage import DiskStorage  # noqa: E402
from vsrkit.errors import DataError  # noqa: E402
from vsrkit.folders import check_separate  # noqa: E402

SETS = (("train_sharp", "val_sharp"), ("train_sharp_bicubic/X4", "val_sharp_bicubic/X4"))
NUM_TRAIN, NUM_VAL = 240, 30


def _clips(folder: str) -> list[str]:
    return sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))


def prepare_reds(input_dir: str, output: str, mode: str = "symlink", overwrite: bool = False) -> dict:
    """Merge train + val (renamed 240..269) for the GT and every LQ set present; returns clip counts per set.

    Everything is checked before a source file is moved (``mode='move'``): a failed run leaves ``input_dir`` as it
    was."""
    check_separate(output, {"--input": input_dir})
    if not os.path.isdir(os.path.join(input_dir, "train_sharp")):
        raise DataError(f"{input_dir}: no train_sharp/ folder; point --input at the unpacked REDS download")
    counts = {}
    with staged_output(output, overwrite) as tmp:
        for train_name, val_name in SETS:
            train_dir, val_dir = os.path.join(input_dir, train_name), os.path.join(input_dir, val_name)
            if not os.path.isdir(train_dir):
                continue
            n = 0
            for clip in _clips(train_dir):
                place_clip(os.path.join(train_dir, clip), os.path.join(tmp, train_name, clip), mode)
                n += 1
            if os.path.isdir(val_dir):
                for clip in _clips(val_dir):
                    if not (clip.isdigit() and int(clip) < NUM_VAL):
                        raise DataError(f"{os.path.join(val_dir, clip)}: not a REDS validation clip "
                                        f"(000..{NUM_VAL - 1:03d}); remove or rename it")
                    new = f"{int(clip) + NUM_TRAIN:03d}"
                    place_clip(os.path.join(val_dir, clip), os.path.join(tmp, train_name, new), mode)
                    n += 1
            counts[train_name] = n
        gt = DiskStorage(os.path.join(tmp, "train_sharp"))
        infos = scan_storage(gt)
        for lq_name in counts:
            if lq_name == "train_sharp":
                continue
            lq = DiskStorage(os.path.join(tmp, lq_name))
            for info in infos:
                if info.clip in lq.clips() and lq.num_frames(info.clip) != info.num_frames:
                    raise DataError(f"{input_dir}: clip {info.clip} has {info.num_frames} GT frames but "
                                    f"{lq.num_frames(info.clip)} in {lq_name}; re-download it")
        meta = os.path.join(tmp, "meta_info")
        write_meta_info(os.path.join(meta, "reds_all.txt"), infos)
        for name, held in (("REDS4", REDS4), ("official", OFFICIAL_VAL)):
            write_meta_info(os.path.join(meta, f"reds_train_{name}_excluded.txt"),
                            [i for i in infos if i.clip not in held])
            held_infos = [i for i in infos if i.clip in held]
            if held_infos:
                write_meta_info(os.path.join(meta, "reds_REDS4.txt" if name == "REDS4" else "reds_official_val.txt"),
                                held_infos)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="unpacked REDS download (train_sharp/, val_sharp/, ...)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--mode", choices=MODES, default="symlink",
                        help="how frames are placed (default symlink); move happens only after every check has passed "
                             "and is undone on failure")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    counts = prepare_reds(args.input, args.output, args.mode, args.overwrite)
    print(", ".join(f"{k}: {v} clips" for k, v in counts.items()) + f" -> {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
