"""Optimisers and iteration-based learning-rate schedulers (all with linear warm-up).

Schedulers are functions of the iteration only, so their state is one integer and a resumed run gets exactly the
same learning rates. ``lr(it) = base_lr * warmup(it) * factor(it)``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from vsrkit.registry import OPTIMIZERS, SCHEDULERS

OPTIMIZERS.register("Adam")(torch.optim.Adam)
OPTIMIZERS.register("AdamW")(torch.optim.AdamW)
OPTIMIZERS.register("SGD")(torch.optim.SGD)


class IterScheduler:
    """Base: set every param group's lr from the iteration; ``step()`` once per optimiser step."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_iter: int = 0):
        self.optimizer = optimizer
        self.warmup_iter = warmup_iter
        self.base_lrs = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        for g, lr in zip(optimizer.param_groups, self.base_lrs):
            g["initial_lr"] = lr
        self.last_iter = 0
        self._apply()

    def factor(self, it: int) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        it = self.last_iter
        warm = min(1.0, (it + 1) / self.warmup_iter) if self.warmup_iter > 0 and it < self.warmup_iter else 1.0
        f = warm * self.factor(it)
        for g, lr in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = lr * f

    def step(self) -> None:
        self.last_iter += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_iter": self.last_iter, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.last_iter = int(state["last_iter"])
        self.base_lrs = list(state["base_lrs"])
        self._apply()


@SCHEDULERS.register()
class ConstantLR(IterScheduler):
    """Constant learning rate (after warm-up)."""

    def factor(self, it: int) -> float:
        return 1.0


@SCHEDULERS.register()
class MultiStepLR(IterScheduler):
    """Multiply by ``gamma`` at each iteration in ``milestones``."""

    def __init__(self, optimizer, milestones: Sequence[int], gamma: float = 0.5, warmup_iter: int = 0):
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer, warmup_iter)

    def factor(self, it: int) -> float:
        return self.gamma ** sum(it >= m for m in self.milestones)


@SCHEDULERS.register()
class CosineAnnealingRestartLR(IterScheduler):
    """Cosine annealing with restarts (BasicSR semantics).

    ``periods`` are cycle lengths in iterations, ``restart_weights`` the peak factor of each cycle, and ``eta_min``
    the absolute floor learning rate. Past the last period the lr stays at ``eta_min``.
    """

    def __init__(self, optimizer, periods: Sequence[int], restart_weights: Sequence[float] = (1.0,),
                 eta_min: float = 0.0, warmup_iter: int = 0):
        if len(periods) != len(restart_weights):
            raise ValueError("scheduler: periods and restart_weights must have the same length")
        self.periods = list(periods)
        self.restart_weights = list(restart_weights)
        self.eta_min = eta_min
        self.cumulative = [sum(self.periods[:i + 1]) for i in range(len(self.periods))]
        super().__init__(optimizer, warmup_iter)

    def _apply(self) -> None:  # eta_min is absolute, so compute lrs directly
        it = self.last_iter
        idx = next((i for i, c in enumerate(self.cumulative) if it < c), None)
        warm = min(1.0, (it + 1) / self.warmup_iter) if self.warmup_iter > 0 and it < self.warmup_iter else 1.0
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            if idx is None:
                g["lr"] = self.eta_min
                continue
            start = self.cumulative[idx] - self.periods[idx]
            cos = 0.5 * (1 + math.cos(math.pi * (it - start) / self.periods[idx]))
            g["lr"] = warm * (self.eta_min + self.restart_weights[idx] * (base - self.eta_min) * cos)

    def factor(self, it: int) -> float:  # pragma: no cover - _apply is overridden
        return 1.0


@SCHEDULERS.register()
class CosineAnnealingLR(CosineAnnealingRestartLR):
    """Plain cosine decay from the base lr to ``eta_min`` over ``T_max`` iterations."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, warmup_iter: int = 0):
        super().__init__(optimizer, [T_max], [1.0], eta_min, warmup_iter)


@SCHEDULERS.register()
class EpochCosineAnnealingLR(IterScheduler):
    """Cosine decay stepped once per epoch, as ``torch.optim.lr_scheduler.CosineAnnealingLR`` called after every
    epoch (STDO): during epoch ``e = it // iters_per_epoch`` the lr is
    ``eta_min + (base - eta_min) * (1 + cos(pi * e / T_max)) / 2`` (``T_max`` in epochs); ``eta_min`` from epoch
    ``T_max`` on."""

    def __init__(self, optimizer, T_max: int, iters_per_epoch: int, eta_min: float = 0.0, warmup_iter: int = 0):
        if T_max < 1 or iters_per_epoch < 1:
            raise ValueError("scheduler: T_max and iters_per_epoch must be >= 1")
        self.T_max, self.iters_per_epoch, self.eta_min = T_max, iters_per_epoch, eta_min
        super().__init__(optimizer, warmup_iter)

    def _apply(self) -> None:  # eta_min is absolute
        it = self.last_iter
        epoch = min(it // self.iters_per_epoch, self.T_max)
        warm = min(1.0, (it + 1) / self.warmup_iter) if self.warmup_iter > 0 and it < self.warmup_iter else 1.0
        cos = 0.5 * (1 + math.cos(math.pi * epoch / self.T_max))
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = warm * (self.eta_min + (base - self.eta_min) * cos)

    def factor(self, it: int) -> float:  # pragma: no cover - _apply is overridden
        return 1.0
