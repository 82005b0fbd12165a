"""A paper's published per-clip numbers, printed beside test.py's table when the clips tested are the paper's clips.

Options (data, no code)::

    val:
      published_results:
        source: MSITF published Vid4 test log (595k iterations)    # one line, printed as the table's title
        columns:                                                   # a label of val.metrics -> {clip: value}
          psnr_rgb: {calendar: 22.477, city: 26.306, foliage: 24.314, walk: 27.496, average: 25.149}

The comparison is shown only when the tested clips are exactly the published ones (compared by the clip's last path
component, so ``BIx4/calendar`` matches ``calendar``): other data print nothing, since their numbers would not be
comparable. ``average`` is the published mean over clips; the measured one is the table's ``average`` row.
"""
from __future__ import annotations

from vsrkit.errors import ConfigError
from vsrkit.metrics import ClipMetrics

AVERAGE = "average"


def check_published(published: dict | None, labels, where: str = "val.published_results") -> None:
    """ConfigError unless every published column is a scored label and names at least one clip."""
    if not published:
        return
    columns = published.get("columns") or {}
    if not columns:
        raise ConfigError(f"{where}.columns: give at least one column, e.g. psnr: {{clip_a: 30.1, average: 30.1}}")
    for label, values in columns.items():
        if label not in labels:
            raise ConfigError(f"{where}.columns.{label}: not a label of val.metrics ({', '.join(labels)}); "
                              f"name the column after the metric it was measured with")
        if not [c for c in values if c != AVERAGE]:
            raise ConfigError(f"{where}.columns.{label}: no clip values, only {AVERAGE!r}")


def published_clips(published: dict) -> set[str]:
    return {c for values in (published.get("columns") or {}).values() for c in values if c != AVERAGE}


def beside_published(table: ClipMetrics, published: dict | None, digits: int = 3) -> str | None:
    """Markdown table ``clip | <label> | published | diff ...`` for the published columns, or None when there is
    nothing to compare (no published results, or the tested clips are not the published clips)."""
    if not published or not published.get("columns"):
        return None
    header, body = table.rows()
    names = {row[0]: str(row[0]).rsplit("/", 1)[-1] for row in body if row[0] != table.AVERAGE}
    if len(set(names.values())) != len(names) or set(names.values()) != published_clips(published):
        return None
    columns = [label for label in published["columns"] if label in header]
    if not columns:
        return None
    cells = ["clip"] + [h for label in columns for h in (label, "published", "diff")]
    lines = [f"published results: {published.get('source', 'the paper')}",
             "| " + " | ".join(cells) + " |", "|" + "|".join(["---"] + ["---:"] * (len(cells) - 1)) + "|"]
    for row in body:
        key = AVERAGE if row[0] == table.AVERAGE else names[row[0]]
        out = [str(row[0])]
        for label in columns:
            ours, theirs = row[header.index(label)], published["columns"][label].get(key)
            out += [_fmt(ours, digits), _fmt(theirs, digits),
                    f"{ours - theirs:+.{digits}f}" if ours is not None and theirs is not None else "-"]
        lines.append("| " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def _fmt(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
