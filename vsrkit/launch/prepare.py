"""Data that a run can make for itself before it starts (the out-of-the-box demo dataset)."""
from __future__ import annotations

import logging
import time

from vsrkit.builders import check_kwargs
from vsrkit.engine.dist import DistInfo, barrier

log = logging.getLogger("vsrkit")


def demo_builder(cfg: dict, where: str = "demo_data"):
    """``(builder, kwargs)`` of a ``demo_data`` section: ``type: mvvsr`` (default,
    :func:`vsrkit.data.demo_builder.build_demo_dataset`) or ``type: rcvsr``
    (:func:`vsrkit.data.rcvsr_demo.build_rcvsr_demo`); the other keys are the builder's arguments."""
    from vsrkit.errors import ConfigError

    kwargs = dict(cfg)
    kind = kwargs.pop("type", "mvvsr")
    if kind == "mvvsr":
        from vsrkit.data.demo_builder import build_demo_dataset as builder
    elif kind == "rcvsr":
        from vsrkit.data.rcvsr_demo import build_rcvsr_demo as builder
    else:
        raise ConfigError(f"{where}.type: unknown demo dataset '{kind}'; use mvvsr or rcvsr")
    check_kwargs(builder, kwargs, where)
    return builder, kwargs


def prepare_demo_data(opt: dict, dist: DistInfo) -> None:
    """Build ``opt['demo_data']`` (see :func:`demo_builder`) on rank 0 unless it already exists.

    The builder reuses a dataset built with the same settings, refuses one built with others, and writes into a
    temporary folder that it renames at the end, so an existing root is always complete.
    """
    cfg = opt.get("demo_data")
    if not cfg:
        return
    if dist.is_main:
        builder, kwargs = demo_builder(cfg, f"{opt['opt_path']}: demo_data")
        t0 = time.perf_counter()
        builder(**kwargs)
        log.info("demo dataset %s ready (%.1f s)", kwargs["root"], time.perf_counter() - t0)
    barrier()
