"""Pixel losses, registered in LOSSES: ``L1Loss``, ``MSELoss``, ``CharbonnierLoss``, ``LogCoshLoss``.

All take ``pred`` and ``target`` of the same shape (e.g. ``(n, t, c, h, w)`` in [0, 1]) and return
``loss_weight * reduce(elementwise)`` with ``reduction`` 'mean' (over all elements), 'sum' or 'none' (elementwise
tensor). The YAML keys are the constructor arguments, e.g. ``pixel_opt: {type: CharbonnierLoss, eps: 1.0e-6}``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from vsrkit.registry import LOSSES

REDUCTIONS = ("mean", "sum", "none")


class _PixelLoss(nn.Module):
    def __init__(self, loss_weight: float = 1.0, reduction: str = "mean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.loss_weight = float(loss_weight)
        self.reduction = reduction

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"{type(self).__name__}: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        loss = self.elementwise(pred, target)
        if self.reduction == "mean":
            loss = loss.mean()
        elif self.reduction == "sum":
            loss = loss.sum()
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return f"loss_weight={self.loss_weight}, reduction={self.reduction!r}"


@LOSSES.register()
class L1Loss(_PixelLoss):
    """``|pred - target|``."""

    def elementwise(self, pred, target):
        return (pred - target).abs()


@LOSSES.register()
class MSELoss(_PixelLoss):
    """``(pred - target)^2``."""

    def elementwise(self, pred, target):
        return (pred - target) ** 2


@LOSSES.register()
class CharbonnierLoss(_PixelLoss):
    """``sqrt((pred - target)^2 + eps)``: ``eps`` is added INSIDE the square root, unsquared (BasicSR convention).

    So the loss of a perfect prediction is ``sqrt(eps)`` per element (1e-6 for the default eps = 1e-12). Published
    settings: PTIA eps 1e-12 mean; MV-VSR ``sqrt(d^2 + 1e-6)`` mean (eps = 1e-6 here); MSITF 1e-6 sum; RCVSR 1e-5
    mean. A paper that writes ``sqrt(d^2 + e^2)`` means ``eps = e**2``.
    """

    def __init__(self, eps: float = 1e-12, loss_weight: float = 1.0, reduction: str = "mean"):
        super().__init__(loss_weight, reduction)
        if eps < 0:
            raise ValueError(f"CharbonnierLoss: eps must be >= 0, got {eps}")
        self.eps = float(eps)

    def elementwise(self, pred, target):
        diff = pred - target
        return torch.sqrt(diff * diff + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}, " + super().extra_repr()


@LOSSES.register()
class LogCoshLoss(_PixelLoss):
    """``log(cosh(pred - target))``, computed stably as ``|d| + softplus(-2|d|) - log 2`` (no overflow)."""

    def elementwise(self, pred, target):
        d = (pred - target).abs()
        return d + nn.functional.softplus(-2.0 * d) - math.log(2.0)
