"""Exponential moving average of a network's parameters AND buffers (BasicSR averages parameters only)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    """``ema = decay * ema + (1 - decay) * current`` after every optimiser step.

    Floating-point buffers (e.g. BatchNorm statistics) are averaged like parameters; integer buffers are copied.
    The EMA copy is what validation uses and what is saved as ``params_ema``.
    """

    def __init__(self, net: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        current = net.state_dict()
        for name, value in self.module.state_dict().items():
            src = current[name].detach()
            if value.dtype.is_floating_point:
                value.mul_(self.decay).add_(src.to(value.dtype), alpha=1.0 - self.decay)
            else:
                value.copy_(src)
