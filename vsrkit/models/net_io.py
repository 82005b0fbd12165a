"""Calling a network with the batch keys its ``forward`` accepts (``lq`` plus optional motion inputs)."""
from __future__ import annotations

import torch
from torch import nn


def run_net(net: nn.Module, batch: dict, names: tuple[str, ...]) -> torch.Tensor:
    """``net(batch['lq'], **{k: batch[k]})`` for each side input in ``names`` present in the batch.

    ``names`` comes from :func:`vsrkit.inference.runner.forward_inputs` of the unwrapped network (DDP hides the signature).
    """
    return net(batch["lq"], **{k: batch[k] for k in names if k in batch})
