#!/usr/bin/env python3
"""Check MFQEv2 raw YUV sequences (and compressed versions) and lay them out for MFQEv2Dataset.

    python scripts/prepare_mfqev2.py --raw datasets/MFQEv2_download/train_108/raw --split train \
        --output datasets/MFQEv2 [--compressed HM16.5_LDP/QP37=path/to/qp37 ...] [--mode symlink]

Every ``Name_WxH_N.yuv`` is checked (size against its name: a truncated file or a wrong name is an error), linked into
``<output>/<split>/raw/`` (and ``<output>/<split>/<tag>/`` for each ``--compressed TAG=DIR``, whose files must match
the raw names and frame counts), and ``<output>/meta_info_mfqev2_<split>.txt`` lists ``Name N (h,w,3)``.
Re-running with another ``--split`` adds that split to an existing output.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import parse_pairs, run_cli  # noqa: E402
from vsrkit.data.meta_info import ClipInfo, write_meta_info  # noqa: E402
from vsrkit.data.prepare import MODES, place, staged_output  # noqa: E402
from vsrkit.data.storage import YuvStorage  # noqa: E402
from vsrkit.errors import DataError  # noqa: E402
from vsrkit.folders import check_separate  # noqa: E402


def prepare_mfqev2(raw_dir: str, output: str, split: str, compressed: dict | None = None, mode: str = "symlink",
                   overwrite: bool = False) -> int:
    """Check and place one split; returns the number of sequences. Everything is checked before a source file is
    moved (``mode='move'``): a failed run leaves the sources as they were."""
    check_separate(os.path.join(output, split), {"--raw": raw_dir, **{f"--compressed {tag}": folder
                                                                       for tag, folder in (compressed or {}).items()}},
                   "--output/--split")
    if not os.path.isdir(raw_dir):
        raise DataError(f"{raw_dir}: raw YUV folder not found")
    raw = YuvStorage(raw_dir)
    clips = raw.clips()
    if not clips:
        raise DataError(f"{raw_dir}: no .yuv files")
    infos = []
    for clip in clips:
        _, w, h, n = raw.info(clip)  # size vs name checked here
        infos.append(ClipInfo(clip, n, (h, w, 3)))
    versions = {"raw": raw}
    for tag, folder in (compressed or {}).items():
        if not os.path.isdir(folder):
            raise DataError(f"--compressed {tag}: {folder} not found")
        comp = YuvStorage(folder)
        for info in infos:
            n = comp.num_frames(info.clip)
            if n != info.num_frames:
                raise DataError(f"{comp.describe(info.clip)}: {n} frames but the raw sequence has {info.num_frames}; "
                                f"re-create it")
        versions[tag] = comp
    split_out = os.path.join(output, split)
    if os.path.exists(split_out) and not overwrite:
        raise DataError(f"{split_out}: already exists; remove it or pass --overwrite")
    os.makedirs(output, exist_ok=True)
    with staged_output(split_out, overwrite) as tmp:
        for tag, store in versions.items():
            for clip in clips:
                src = store.describe(clip)
                place(src, os.path.join(tmp, tag, os.path.basename(src)), mode)
    write_meta_info(os.path.join(output, f"meta_info_mfqev2_{split}.txt"), infos)
    return len(infos)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", required=True, help="folder of raw Name_WxH_N.yuv files of one split")
    parser.add_argument("--split", required=True, help="split name, e.g. train or test")
    parser.add_argument("--output", required=True)
    parser.add_argument("--compressed", nargs="*", default=[], help="TAG=DIR compressed versions (e.g. QP37=...)")
    parser.add_argument("--mode", choices=MODES, default="symlink",
                        help="how frames are placed (default symlink); move happens only after every check has passed "
                             "and is undone on failure")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    compressed = parse_pairs(args.compressed, "--compressed", "TAG=DIR")
    n = prepare_mfqev2(args.raw, args.output, args.split, compressed, args.mode, args.overwrite)
    print(f"{args.split}: {n} sequences -> {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
