"""Pixel losses with exact values, reductions, weights, registry building."""
import math

import pytest
import torch

from vsrkit.losses import CharbonnierLoss, L1Loss, LogCoshLoss, MSELoss
from vsrkit.registry import LOSSES

PRED = torch.tensor([[0.5, -1.0], [2.0, 0.0]], dtype=torch.float64)
TARGET = torch.tensor([[0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)  # differences 0.5, -1, 2, 0


def test_l1_mse_values_and_reductions():
    assert L1Loss()(PRED, TARGET).item() == pytest.approx(3.5 / 4)
    assert L1Loss(reduction="sum")(PRED, TARGET).item() == pytest.approx(3.5)
    assert MSELoss()(PRED, TARGET).item() == pytest.approx((0.25 + 1 + 4) / 4)
    assert MSELoss(loss_weight=2.0, reduction="sum")(PRED, TARGET).item() == pytest.approx(10.5)
    none = L1Loss(reduction="none")(PRED, TARGET)
    assert torch.equal(none, torch.tensor([[0.5, 1.0], [2.0, 0.0]], dtype=torch.float64))


def test_charbonnier_eps_inside_the_root():
    eps = 1e-6
    expected = [math.sqrt(d * d + eps) for d in (0.5, -1.0, 2.0, 0.0)]
    assert CharbonnierLoss(eps=eps)(PRED, TARGET).item() == pytest.approx(sum(expected) / 4, abs=1e-15)
    assert CharbonnierLoss(eps=eps, reduction="sum")(PRED, TARGET).item() == pytest.approx(sum(expected), abs=1e-15)
    # A perfect prediction costs sqrt(eps) per element (1e-6 for the default 1e-12), not eps.
    zero = CharbonnierLoss()(TARGET, TARGET).item()
    assert zero == pytest.approx(1e-6, rel=1e-9)
    assert CharbonnierLoss(eps=1e-6, loss_weight=0.5)(TARGET, TARGET).item() == pytest.approx(0.5e-3, rel=1e-9)


def test_charbonnier_gradient_is_finite_at_zero():
    x = torch.zeros(3, requires_grad=True)
    CharbonnierLoss()(x, torch.zeros(3)).backward()
    assert torch.isfinite(x.grad).all() and (x.grad == 0).all()


def test_logcosh_values_and_no_overflow():
    expected = [math.log(math.cosh(d)) for d in (0.5, -1.0, 2.0, 0.0)]
    assert LogCoshLoss()(PRED, TARGET).item() == pytest.approx(sum(expected) / 4, abs=1e-14)
    big = LogCoshLoss(reduction="none")(torch.tensor([200.0]), torch.tensor([0.0]))
    assert big.item() == pytest.approx(200.0 - math.log(2.0), rel=1e-6)  # log(cosh(x)) -> |x| - log 2


def test_registry_builds_from_yaml_keys():
    loss = LOSSES.get("CharbonnierLoss")(eps=1e-6, reduction="sum", loss_weight=2.0)
    assert isinstance(loss, torch.nn.Module) and loss.eps == 1e-6 and loss.reduction == "sum"
    assert set(LOSSES.names()) >= {"L1Loss", "MSELoss", "CharbonnierLoss", "LogCoshLoss"}


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        L1Loss(reduction="avg")
    with pytest.raises(ValueError, match="eps"):
        CharbonnierLoss(eps=-1.0)
    with pytest.raises(ValueError, match="differ"):
        MSELoss()(torch.zeros(2, 3), torch.zeros(3, 2))
