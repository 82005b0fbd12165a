"""Data that a run can make for itself before it starts (the out-of-the-box demo dataset)."""
from __future__ import annotations

import logging
import time

from vsrkit.builders import check_kwargs
from vsrkit.engine.dist import DistInfo, barrier

log = logging.getLogger("vsrkit")


def prepare_demo_data(opt: dict, dist: DistInfo) -> None:
    """Build ``opt['demo_data']`` (kwargs of ``build_demo_dataset``) on rank 0 unless it already exists.

    The builder reuses a dataset built with the same settings, refuses one built with others, and writes into a
    temporary folder that it renames at the end, so an existing root is always complete.
    """
    cfg = opt.get("demo_data")
    if not cfg:
        return
    if dist.is_main:
        from vsrkit.data.demo_builder import build_demo_dataset

        check_kwargs(build_demo_dataset, cfg, f"{opt['opt_path']}: demo_data")
        t0 = time.perf_counter()
        build_demo_dataset(**cfg)
        log.info("demo dataset %s ready (%.1f s)", cfg["root"], time.perf_counter() - t0)
    barrier()
