"""Calling a network with the batch keys its ``forward`` accepts (``lq`` plus optional motion inputs)."""
from __future__ import annotations

import inspect

import torch
from torch import nn

from vsrkit.engine.checkpoint import unwrap

#: Optional per-clip inputs a network may take besides ``lq``.
SIDE_INPUTS = ("mv_bwd", "mv_fwd", "frame_types", "qp")


def forward_inputs(net: nn.Module) -> tuple[str, ...]:
    """The names in :data:`SIDE_INPUTS` that ``net.forward`` accepts."""
    params = inspect.signature(unwrap(net).forward).parameters
    return tuple(k for k in SIDE_INPUTS if k in params)


def run_net(net: nn.Module, batch: dict, names: tuple[str, ...]) -> torch.Tensor:
    """``net(batch['lq'], **{k: batch[k]})`` for each accepted side input present in the batch."""
    return net(batch["lq"], **{k: batch[k] for k in names if k in batch})
