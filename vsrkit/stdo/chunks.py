"""Stage 4: split the patches into k chunks at the quantiles of their labels (STDO: k = 2, chunk 0 = lowest PSNR,
i.e. the hardest patches).

The training frames are split by rank into k equal chunks (``vsrkit.data.vsd4k_dataset.quantile_chunks``, as
STDO's scripts); the edges between neighbouring chunks (midpoints) then assign every other labelled patch (the
held-out frames) to a chunk. ``chunks.txt`` holds ``frame row col chunk`` for every patch of every frame
(VSD4KDataset's ``patch_chunks_file``), ``chunks.json`` the edges and per-chunk counts and mean labels.
"""
from __future__ import annotations

import logging

import numpy as np

from vsrkit.data.patch_grid import assign_chunks, chunk_edges
from vsrkit.data.vsd4k_dataset import quantile_chunks, read_patch_labels
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import write_text_atomic
from vsrkit.stdo.workdir import WorkDir, check_settings, read_record, write_record

log = logging.getLogger("vsrkit")


def split_chunks(work: str, scale: int, num_chunks: int = 2, overwrite: bool = False) -> dict:
    """Run the chunks stage (see the module docstring)."""
    wd = WorkDir(work)
    video = wd.video()
    labels_record = read_record(wd.labels_manifest(scale))
    if not labels_record or not labels_record.get("done"):
        raise DataError(f"{work}: no finished labels for x{scale}; run the labels stage first")
    k = int(num_chunks)
    if k < 1:
        raise ConfigError(f"--num-chunks {num_chunks}: must be >= 1")
    settings = {"scale": scale, "num_chunks": k, "labels": labels_record["settings"]}
    record = check_settings(wd.chunks_manifest(scale, k), settings, overwrite, "chunks")
    if record and record.get("done"):
        return record
    labels = read_patch_labels(str(wd.labels(scale)))
    start, end = video["train_frames"]
    train = sorted(key for key in labels if start <= key[0] < end)
    values = np.array([labels[key] for key in train], np.float64)
    if len(values) < k:
        raise DataError(f"x{scale}: {len(values)} labelled training patches cannot make {k} chunks")
    ids = quantile_chunks(values, k)
    edges = chunk_edges(values, ids, k)
    chunk_of = dict(zip(train, ids.tolist()))
    rest = sorted(key for key in labels if key not in chunk_of)
    if rest:
        chunk_of.update(zip(rest, assign_chunks(np.array([labels[key] for key in rest]), edges).tolist()))
    write_text_atomic(wd.chunks(scale, k), "".join(f"{f} {r} {c} {j}\n" for (f, r, c), j in sorted(chunk_of.items())))
    stats = []
    for j in range(k):
        v = values[ids == j]
        finite = v[np.isfinite(v)]
        stats.append({"chunk": j, "train_patches": int(v.size), "label_min": float(v.min()),
                      "label_max": float(v.max()), "label_mean": float(finite.mean()) if finite.size else None,
                      "test_patches": int(sum(1 for key in rest if chunk_of[key] == j))})
    log.info("chunks x%d k=%d: edges %s, %s", scale, k, [round(e, 3) for e in edges],
             ", ".join(f"chunk {s['chunk']}: {s['train_patches']} patches" for s in stats))
    return write_record(wd.chunks_manifest(scale, k), "chunks", settings, True, edges=edges, chunks=stats)
