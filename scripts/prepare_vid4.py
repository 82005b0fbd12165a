#!/usr/bin/env python3
"""Prepare Vid4 (or any folder of clip sets) from its download layout.

    python scripts/prepare_vid4.py --input datasets/Vid4_download --output datasets/Vid4 [--mode symlink]

Input: one folder per version (``GT/``, ``BIx4/``, ``BDx4/``...), each with ``calendar/ city/ foliage/ walk/`` of
frames in any naming (natural order). Output: the same versions with frames renamed ``00000000.png...``; every
version must have the GT's frame count per clip, and the four standard clips must have their published lengths
(calendar 41, city 34, foliage 49, walk 47). ``meta_info_Vid4_GT.txt`` is generated from the result.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import run_cli  # noqa: E402
from vsrkit.data.meta_info import scan_storage, write_meta_info  # noqa: E402
from vsrkit.data.prepare import MODES, place_clip, staged_output  # noqa: E402
from vsrkit.data.storage import DiskStorage  # noqa: E402
from vsrkit.errors import DataError  # noqa: E402
from vsrkit.folders import check_separate  # noqa: E402

VID4_FRAMES = {"calendar": 41, "city": 34, "foliage": 49, "walk": 47}


def prepare_vid4(input_dir: str, output: str, gt_name: str = "GT", mode: str = "symlink",
                 overwrite: bool = False, check_lengths: bool = True) -> dict:
    """Rename every version's frames to 8 digits and check the counts; returns ``{version: {clip: frames}}``.

    Everything is checked before a source file is moved (``mode='move'``): a failed run leaves ``input_dir`` as it
    was."""
    check_separate(output, {"--input": input_dir})
    if not os.path.isdir(os.path.join(input_dir, gt_name)):
        raise DataError(f"{input_dir}: no {gt_name}/ folder; point --input at the Vid4 download (GT/, BIx4/...)")
    versions = sorted(d for d in os.listdir(input_dir) if os.path.isdir(os.path.join(input_dir, d)))
    counts: dict[str, dict[str, int]] = {}
    with staged_output(output, overwrite) as tmp:
        for version in versions:
            src = os.path.join(input_dir, version)
            counts[version] = {}
            for clip in sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d))):
                counts[version][clip] = place_clip(os.path.join(src, clip), os.path.join(tmp, version, clip), mode)
        gt_counts = counts[gt_name]
        for clip, n in gt_counts.items():
            want = VID4_FRAMES.get(clip)
            if check_lengths and want is not None and n != want:
                raise DataError(f"{os.path.join(input_dir, gt_name, clip)}: {n} frames, Vid4's {clip} has {want}; "
                                f"re-download it (or pass --no-length-check for another dataset)")
            for version, per_clip in counts.items():
                if per_clip.get(clip, n) != n:
                    raise DataError(f"{os.path.join(input_dir, version, clip)}: {per_clip[clip]} frames but "
                                    f"{gt_name} has {n}; re-download it")
        write_meta_info(os.path.join(tmp, f"meta_info_Vid4_{gt_name}.txt"),
                        scan_storage(DiskStorage(os.path.join(tmp, gt_name))))
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--gt-name", default="GT")
    parser.add_argument("--mode", choices=MODES, default="symlink",
                        help="how frames are placed (default symlink); move happens only after every check has passed "
                             "and is undone on failure")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--no-length-check", action="store_true", help="skip Vid4's published clip lengths")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    counts = prepare_vid4(args.input, args.output, args.gt_name, args.mode, args.overwrite,
                          not args.no_length_check)
    print(", ".join(f"{v}: {len(c)} clips" for v, c in counts.items()) + f" -> {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
