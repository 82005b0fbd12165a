#!/usr/bin/env python3
"""Check Vimeo-90K septuplets against their lists and generate meta-info files.

    python scripts/prepare_vimeo90k.py --input datasets/vimeo_septuplet --output datasets/vimeo_septuplet/meta_info \
        [--lq datasets/vimeo_septuplet/BIx4] [--split fast=fast_testset.txt medium=... slow=...]

Input (official): ``sequences/00001/0001/im1.png .. im7.png``, ``sep_trainlist.txt``, ``sep_testlist.txt``. Every
listed clip must have im1..im7 (in ``--lq`` too when given). Output: ``vimeo90k_train.txt``, ``vimeo90k_test.txt``
and one ``vimeo90k_test_<name>.txt`` per ``--split`` list (e.g. the fast/medium/slow lists of space-time VSR), in the
``clip 7 (h,w,c)`` format, shapes read from the PNG headers.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import parse_pairs, run_cli  # noqa: E402
from vsrkit.data.meta_info import ClipInfo, read_meta_info, write_meta_info  # noqa: E402
from vsrkit.data.prepare import staged_output  # noqa: E402
from vsrkit.data.storage import DiskStorage  # noqa: E402
from vsrkit.errors import DataError  # noqa: E402
from vsrkit.folders import check_separate  # noqa: E402

FRAMES = [f"im{i}.png" for i in range(1, 8)]


def check_septuplet(root: str, clip: str) -> None:
    folder = os.path.join(root, clip)
    missing = [n for n in FRAMES if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}; a Vimeo-90K septuplet has im1.png..im7.png")


def septuplet_infos(seq_root: str, list_file: str, lq_root: str | None = None) -> list[ClipInfo]:
    store = DiskStorage(seq_root)
    out = []
    for entry in read_meta_info(list_file):
        check_septuplet(seq_root, entry.clip)
        if lq_root:
            check_septuplet(lq_root, entry.clip)
        out.append(ClipInfo(entry.clip, len(FRAMES), store.frame_shape(entry.clip)))
    return out


def prepare_vimeo90k(input_dir: str, output: str, lq_root: str | None = None, splits: dict | None = None,
                     overwrite: bool = False) -> dict:
    seq = os.path.join(input_dir, "sequences")
    if not os.path.isdir(seq):
        raise DataError(f"{input_dir}: no sequences/ folder; point --input at the unpacked vimeo_septuplet")
    lists = {"train": os.path.join(input_dir, "sep_trainlist.txt"), "test": os.path.join(input_dir, "sep_testlist.txt")}
    for name, path in (splits or {}).items():
        lists[f"test_{name}"] = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(input_dir, path)
    check_separate(output, {"--input sequences/": seq, "--lq": lq_root, **{f"list {name}": path
                                                                           for name, path in lists.items()}})
    counts = {}
    with staged_output(output, overwrite) as tmp:
        for name, path in lists.items():
            if not os.path.isfile(path):
                if name in ("train", "test"):
                    raise DataError(f"{path}: list file not found; it ships with the Vimeo-90K download")
                raise DataError(f"{path}: --split list file not found")
            infos = septuplet_infos(seq, path, lq_root)
            write_meta_info(os.path.join(tmp, f"vimeo90k_{name}.txt"), infos)
            counts[name] = len(infos)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="unpacked vimeo_septuplet (sequences/, sep_*list.txt)")
    parser.add_argument("--output", required=True, help="folder for the meta-info files")
    parser.add_argument("--lq", help="LQ sequences root to check as well (e.g. BIx4)")
    parser.add_argument("--split", nargs="*", default=[], help="NAME=LIST_FILE test subsets (fast, medium, slow)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    splits = parse_pairs(args.split, "--split", "NAME=LIST_FILE")
    counts = prepare_vimeo90k(args.input, args.output, args.lq, splits, args.overwrite)
    print(", ".join(f"{k}: {v} clips" for k, v in counts.items()) + f" -> {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
