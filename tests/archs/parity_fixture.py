"""Helpers for parity tests against ``../shared/fixtures/<method>/`` (the published code's own numbers).

Load in a test module with::

    _spec = importlib.util.spec_from_file_location("parity_fixture", Path(__file__).with_name("parity_fixture.py"))
    parity = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(parity)

A clone without the fixtures skips these tests with a message saying where the files are expected.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vsrkit.engine.checkpoint import atomic_save, load_network

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
#: The CPU DCN backends a parity test runs through: torchvision (the issue's reference) and torch (the CPU default).
DCN_BACKENDS = ("torchvision", "torch")


def fixture_file(method: str, name: str = "parity_small.pt") -> Path:
    """``../shared/fixtures/<method>/<name>``, or skip the test saying where it is expected."""
    path = FIXTURES / method / name
    if not path.is_file():
        pytest.skip(f"parity fixture not found: expected {path} (the shared/ folder beside the repository)")
    return path


def load_fixture(method: str, name: str = "parity_small.pt") -> dict:
    return torch.load(fixture_file(method, name), map_location="cpu", weights_only=True)


def official_keys(method: str) -> dict:
    """``official_keys.json``: ``config``, ``num_params``, ``keys`` ({name: shape}) and more, per its README."""
    return json.loads(fixture_file(method, "official_keys.json").read_text())


def load_official(net: torch.nn.Module, state_dict: dict, tmp_path: Path, wrapper: str | None = None) -> None:
    """Write ``state_dict`` as a published checkpoint file (optionally inside ``{wrapper: ...}``) and load it into
    ``net`` through :func:`vsrkit.engine.checkpoint.load_network`, i.e. through the arch's registered converter."""
    path = Path(tmp_path) / "official.pth"
    atomic_save({wrapper: state_dict} if wrapper else state_dict, path)
    load_network(net, path, param_key=None, strict=True)


def fake_official_state(keys: dict) -> dict:
    """Zero tensors with the shapes of ``official_keys.json``'s ``keys`` (to test a converter on the full config)."""
    return {k: torch.zeros(shape) for k, shape in keys.items()}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float, what: str) -> None:
    """``max |actual - expected| <= tol`` with the measured difference in the message."""
    assert tuple(actual.shape) == tuple(expected.shape), f"{what}: shape {tuple(actual.shape)} vs {tuple(expected.shape)}"
    diff = (actual.detach().double() - expected.detach().double()).abs().max().item()
    assert diff <= tol, f"{what}: max abs difference {diff:.3e} > {tol:.1e}"
