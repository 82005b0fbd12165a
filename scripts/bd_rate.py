#!/usr/bin/env python3
"""Bjøntegaard delta rate / PSNR of a method against the full-resolution HEVC anchor, per sequence and per class.

    python scripts/bd_rate.py \
        --anchor OUT/ANCHOR_QP27 OUT/ANCHOR_QP32 OUT/ANCHOR_QP37 OUT/ANCHOR_QP42 \
        --test OUT/LR_QP27=results/test_RCVSR_QP27/MFQEv2_test_LR_QP27_metrics.csv \
               OUT/LR_QP32=results/test_RCVSR_MFQEv2_QP32/MFQEv2_test_LR_QP32_metrics.csv ... \
        --output results/rcvsr_bd_rate [--column psnr_y] [--baseline] [--method pchip|cubic]

Rates come from the coded streams recorded in the manifests of degradation/make_rcvsr_data.py (``bits`` per
sequence: for the method the LR stream plus the key-frame stream, for the anchor the full-resolution stream), as bits
per frame; PSNRs from test.py's per-sequence CSVs (column ``--column``, the mean over frames of the native-Y PSNR)
and, for the anchor, from the ``psnr_y.csv`` its step wrote (``--anchor DIR=CSV`` names another file). Every point
must come from the same encoder; the tables name it, so results from the x265 approximation are never read as HM's.
``--baseline`` adds the ``bicubic_<column>`` curve of the same CSVs (bicubic x2 of the same streams).

Writes ``bd_rate.md`` and ``bd_rate.csv`` (per sequence, with class averages and the overall mean; classes by frame
size, the JCT-VC classes of MFQEv2's test set: A 2560x1600, B 1920x1080, C 832x480, D 416x240, E 1280x720) and an
RD-curve PNG per sequence, ``rd_<sequence>.png`` (matplotlib when installed, else drawn with OpenCV).
"""
import argparse
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from vsrkit.cli import parse_pairs, run_cli  # noqa: E402
from vsrkit.errors import ConfigError, DataError  # noqa: E402

CLASSES = {(2560, 1600): "A", (1920, 1080): "B", (832, 480): "C", (416, 240): "D", (1280, 720): "E"}


def sequence_class(width: int, height: int) -> str:
    return CLASSES.get((int(width), int(height)), f"{width}x{height}")


def read_csv_column(path: str, column: str) -> dict[str, float]:
    """``{sequence: value}`` of one column of a test.py table (the ``average`` row left out)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise DataError(f"{path}: cannot read the metrics table ({exc}); run test.py first") from None
    if not rows or rows[0][:1] != ["clip"]:
        raise DataError(f"{path}: not a test.py metrics table (no 'clip' header)")
    header = rows[0]
    if column not in header:
        raise DataError(f"{path}: no column '{column}' (columns: {', '.join(header[1:])}); pass --column")
    i = header.index(column)
    out = {}
    for row in rows[1:]:
        if row and row[0] != "average" and len(row) > i and row[i] != "":
            out[row[0].split("/")[-1]] = float(row[i])
    return out


def load_point(folder: str, table: str | None, column: str, step: str) -> dict:
    """One QP: ``{'qp', 'label', 'clips': {seq: {'bits_per_frame', 'size'}}, 'psnr': {seq: value}}``."""
    from vsrkit.data.rcvsr_codec import bits_per_frame, read_manifest_file

    man = read_manifest_file(folder, f"make it with degradation/make_rcvsr_data.py {step}")
    if man.get("step") != step or not man.get("complete"):
        raise DataError(f"{folder}: expected a complete '{step}' output of degradation/make_rcvsr_data.py, found "
                        f"step {man.get('step')!r} (complete: {man.get('complete')})")
    table = table or os.path.join(folder, "psnr_y.csv")
    return {"qp": man["qp"], "label": man["label"], "folder": folder, "table": table,
            "clips": {c: {"bits_per_frame": bits_per_frame(r), "size": r["source_size"]} for c, r in man["clips"].items()},
            "psnr": read_csv_column(table, column)}


def curves(points: list[dict], column_of=None) -> dict[str, tuple[list[float], list[float]]]:
    """``{sequence: (kbit per frame per QP, PSNR per QP)}`` over the points (sequences in every point only)."""
    seqs = set.intersection(*(set(p["clips"]) & set(p["psnr"]) for p in points))
    out = {}
    for seq in sorted(seqs):
        ordered = sorted(points, key=lambda p: p["qp"])
        out[seq] = ([p["clips"][seq]["bits_per_frame"] / 1e3 for p in ordered], [p["psnr"][seq] for p in ordered])
    return out


def compute(anchor: list[dict], tests: dict[str, list[dict]], method: str) -> tuple[list[dict], dict]:
    """Per-sequence rows ``{'sequence', 'class', '<name> BD-rate', '<name> BD-PSNR'}`` and the curves."""
    from vsrkit.codec.bjontegaard import bd_psnr, bd_rate

    ref = curves(anchor)
    test_curves = {name: curves(points) for name, points in tests.items()}
    missing = {name: sorted(set(ref) - set(c)) for name, c in test_curves.items() if set(ref) - set(c)}
    if missing:
        raise DataError(f"sequences of the anchor missing from the test tables/manifests: {missing}; test every "
                        f"sequence at every QP")
    rows = []
    sizes = anchor[0]["clips"]
    for seq in sorted(ref):
        row = {"sequence": seq, "class": sequence_class(*sizes[seq]["size"])}
        for name, c in test_curves.items():
            for key, fn in ((f"{name} BD-rate (%)", bd_rate), (f"{name} BD-PSNR (dB)", bd_psnr)):
                try:
                    row[key] = fn(*ref[seq], *c[seq], method=method)
                except DataError as exc:  # curves that do not overlap: no delta for this sequence
                    row[key] = None
                    row.setdefault("notes", []).append(f"{seq}, {key}: {exc}")
        rows.append(row)
    return rows, {"anchor": ref, **test_curves}


def summary_rows(rows: list[dict]) -> list[dict]:
    """Per-sequence rows, each class followed by its average, then the average over all sequences."""
    import numpy as np

    keys = [k for k in rows[0] if k not in ("sequence", "class", "notes")]

    def mean(members, key):
        values = [m[key] for m in members if m[key] is not None]
        return float(np.mean(values)) if values else None

    out = []
    for cls in sorted({r["class"] for r in rows}):
        members = [r for r in rows if r["class"] == cls]
        out += members
        out.append({"sequence": f"class {cls} average", "class": cls, **{k: mean(members, k) for k in keys}})
    out.append({"sequence": "average", "class": "all", **{k: mean(rows, k) for k in keys}})
    return out


def write_tables(output: str, rows: list[dict], label: str, qps: dict, method: str) -> str:
    from vsrkit.fileio import write_text_atomic

    keys = [k for k in rows[0] if k != "notes"]
    notes = [n for r in rows for n in r.get("notes", [])]

    def fmt(value, digits):
        return "n/a" if value is None else f"{value:.{digits}f}"

    md = [f"Bjøntegaard deltas against the full-resolution HEVC anchor ({method}, rate = bits of every coded stream "
          f"per frame, PSNR = mean native-Y PSNR per sequence).", "",
          f"Encoder: {label}.", "",
          "QPs: " + "; ".join(f"{name} {qs}" for name, qs in qps.items()), "",
          "| " + " | ".join(keys) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(keys) - 2)) + "|"]
    for r in rows:
        cells = [r["sequence"], r["class"]] + [fmt(r[k], 2 if "rate" in k else 3) for k in keys[2:]]
        md.append("| " + " | ".join(cells) + " |")
    if notes:
        md += ["", "n/a: the curves do not overlap, averages leave the sequence out:"] + [f"- {n}" for n in notes]
    text = "\n".join(md) + "\n"
    write_text_atomic(os.path.join(output, "bd_rate.md"), text)
    lines = [",".join(keys)] + [",".join([r["sequence"], r["class"]] + [fmt(r[k], 6).replace("n/a", "")
                                                                         for k in keys[2:]]) for r in rows]
    write_text_atomic(os.path.join(output, "bd_rate.csv"), "\n".join(lines) + "\n")
    return text


def plot_curves(path: str, title: str, curves_of: dict[str, tuple[list, list]]) -> None:
    """One RD plot (kbit/frame vs PSNR): matplotlib when installed, else OpenCV."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
        for name, (rates, psnrs) in curves_of.items():
            ax.plot(rates, psnrs, marker="o", label=name)
        ax.set_xlabel("kbit per frame")
        ax.set_ylabel("Y PSNR (dB)")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
        from vsrkit.fileio import atomic_path

        with atomic_path(path, keep_ext=True) as tmp:  # the format follows the extension (.png)
            fig.savefig(tmp)
        plt.close(fig)
        return
    from vsrkit.fileio import write_bytes_atomic

    write_bytes_atomic(path, draw_rd_png(title, curves_of))


def draw_rd_png(title: str, curves_of: dict[str, tuple[list, list]], size=(640, 480)) -> bytes:
    """An RD plot drawn with OpenCV (axes, ticks, one coloured polyline with markers per curve, legend), PNG bytes."""
    import cv2
    import numpy as np

    w, h = size
    left, right, top, bottom = 70, 20, 40, 50
    img = np.full((h, w, 3), 255, np.uint8)
    xs = np.concatenate([np.asarray(c[0], float) for c in curves_of.values()])
    ys = np.concatenate([np.asarray(c[1], float) for c in curves_of.values()])
    x0, x1 = xs.min(), xs.max()
    y0, y1 = ys.min(), ys.max()
    pad_x, pad_y = 0.05 * (x1 - x0 or 1.0), 0.05 * (y1 - y0 or 1.0)
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y

    def px(x, y):
        return (int(round(left + (x - x0) / (x1 - x0) * (w - left - right))),
                int(round(h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom))))

    font, black, grey = cv2.FONT_HERSHEY_SIMPLEX, (0, 0, 0), (220, 220, 220)
    for v in np.linspace(x0, x1, 5):
        a, b = px(v, y0), px(v, y1)
        cv2.line(img, a, b, grey, 1)
        cv2.putText(img, f"{v:.3g}", (a[0] - 15, h - bottom + 18), font, 0.4, black, 1, cv2.LINE_AA)
    for v in np.linspace(y0, y1, 5):
        a, b = px(x0, v), px(x1, v)
        cv2.line(img, a, b, grey, 1)
        cv2.putText(img, f"{v:.2f}", (5, a[1] + 4), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.rectangle(img, px(x0, y1), px(x1, y0), black, 1)
    cv2.putText(img, title, (left, 25), font, 0.6, black, 1, cv2.LINE_AA)
    cv2.putText(img, "kbit per frame", (w // 2 - 50, h - 12), font, 0.45, black, 1, cv2.LINE_AA)
    cv2.putText(img, "dB", (5, top - 8), font, 0.45, black, 1, cv2.LINE_AA)
    colours = [(200, 80, 0), (0, 0, 220), (0, 150, 0), (150, 0, 150), (0, 140, 220)]  # BGR
    for i, (name, (rates, psnrs)) in enumerate(curves_of.items()):
        colour = colours[i % len(colours)]
        pts = np.array([px(x, y) for x, y in zip(rates, psnrs)], np.int32)
        cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, tuple(int(v) for v in p), 4, colour, -1, cv2.LINE_AA)
        ly = top + 15 + 18 * i
        cv2.line(img, (w - right - 170, ly - 4), (w - right - 150, ly - 4), colour, 2)
        cv2.putText(img, name, (w - right - 145, ly), font, 0.45, black, 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise DataError("could not encode the RD plot as PNG")
    return png.tobytes()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--anchor", nargs="+", required=True, help="anchor step outputs, one per QP (DIR or DIR=CSV)")
    parser.add_argument("--test", nargs="+", required=True, help="LR step output = test.py CSV, one per QP")
    parser.add_argument("--output", required=True, help="folder for bd_rate.md/.csv and the RD plots")
    parser.add_argument("--column", default="psnr_y", help="PSNR column of the test.py CSVs (default psnr_y)")
    parser.add_argument("--name", default="RCVSR", help="name of the method in the tables (default RCVSR)")
    parser.add_argument("--baseline", action="store_true", help="also the bicubic_<column> curve of the same CSVs")
    parser.add_argument("--method", default="pchip", choices=("pchip", "cubic"), help="interpolation (pchip)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)

    anchor = []
    for item in args.anchor:
        folder, _, table = item.partition("=")
        anchor.append(load_point(folder, table or None, "psnr_y" if not table else args.column, "anchor"))
    test_pairs = parse_pairs(args.test, "--test", "LR_DIR=CSV")
    tests = {args.name: [load_point(d, t, args.column, "lr") for d, t in test_pairs.items()]}
    if args.baseline:
        tests["bicubic"] = [load_point(d, t, f"bicubic_{args.column}", "lr") for d, t in test_pairs.items()]
    labels = {p["label"] for p in anchor + [p for pts in tests.values() for p in pts]}
    if len(labels) != 1:
        raise ConfigError(f"the points were coded by different encoders ({'; '.join(sorted(labels))}); code the anchor "
                          f"and the method with the same one")
    qps = {"anchor": sorted(p["qp"] for p in anchor), args.name: sorted(p["qp"] for p in tests[args.name])}
    for name, points in [("anchor", anchor), (args.name, tests[args.name])]:
        if len(set(qps[name])) != len(qps[name]):
            raise ConfigError(f"{name}: QP {qps[name]} given twice; one folder per QP")
    if qps["anchor"] != qps[args.name]:
        raise ConfigError(f"anchor QPs {qps['anchor']} and {args.name} QPs {qps[args.name]} differ; the anchor is coded "
                          f"at the same QPs as the method")
    rows, all_curves = compute(anchor, tests, args.method)
    os.makedirs(args.output, exist_ok=True)
    table = write_tables(args.output, summary_rows(rows), labels.pop(), qps, args.method)
    for seq in all_curves["anchor"]:
        plot_curves(os.path.join(args.output, f"rd_{seq}.png"), seq,
                    {("HEVC anchor" if k == "anchor" else k): c[seq] for k, c in all_curves.items()})
    print(table)
    print(f"wrote {args.output}/bd_rate.md, bd_rate.csv and {len(all_curves['anchor'])} RD plots")
    return 0


if __name__ == "__main__":
    run_cli(main)
