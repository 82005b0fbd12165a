"""MV-VSR against the published code (``../shared/fixtures/mvvsr/``, see its README.md).

* ``official_keys.json`` (published ``MVSR(mid=64, blocks=15, scale=4)``): the converter maps every key onto
  ``MVVSR`` with equal shapes, drops only the unused ``partion_map.*``, and the parameter counts agree.
* ``parity_small.pt`` (``MVSR(mid=32, blocks=2)``, float64): ``MVVSR(faithful=True)`` loaded through the converter
  reproduces the output, both ablations and the recorded gradients.

Motion fields: the published ``forward(lq, mv_fwd, mv_bwd, frame_types)`` calls the field that points into the
PAST (FFmpeg ``source <= 0``, used by its forward pass to warp the state of frame t-1) ``mv_fwd``, and the one that
points into the future ``mv_bwd``. vsrkit names fields by where they point: its ``mv_bwd[:, t]`` is frame t -> t-1
and its ``mv_fwd[:, t]`` is frame t -> t+1. So the fixture's ``mv_fwd`` is passed as vsrkit's ``mv_bwd`` and the
fixture's ``mv_bwd`` as vsrkit's ``mv_fwd`` (and their recorded gradients are compared the same way round).
"""
import importlib.util
import logging
import math
from pathlib import Path

import pytest
import torch

from vsrkit.archs.mvvsr_arch import MVVSR
from vsrkit.archs.official import find_converter

_spec = importlib.util.spec_from_file_location("parity_fixture", Path(__file__).with_name("parity_fixture.py"))
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)

METHOD = "mvvsr"
OUTPUT_TOL = 1e-9    # fixture README: max abs difference of outputs (float64)
GRAD_TOL = 1e-8      # fixture README: gradients
#: published forward flags -> MVVSR constructor arguments
ABLATIONS = {"ablate_second_order": {"second_order": False}, "ablate_mvs": {"ablate_mvs": True}}


def _kwargs(config: dict) -> dict:
    """Published ``MVSR(mid, blocks, scale)`` -> ``MVVSR`` arguments."""
    return {"mid_channels": config["mid"], "num_blocks": config["blocks"], "scale": config["scale"]}


def _vsrkit_inputs(inputs: dict) -> dict:
    """Fixture inputs (published names) -> MVVSR keyword arguments (the two motion fields swap names, see above)."""
    return {"lq": inputs["lq"], "mv_bwd": inputs["mv_fwd"], "mv_fwd": inputs["mv_bwd"],
            "frame_types": inputs["frame_types"]}


def _loaded(fix: dict, tmp_path, **kw) -> MVVSR:
    net = MVVSR(**_kwargs(fix["config"]), faithful=True, **kw)
    parity.load_official(net, fix["state_dict"], tmp_path)
    return net.double()


@pytest.fixture(scope="module")
def fix():
    return parity.load_fixture(METHOD)


def test_converter_maps_every_official_key_with_equal_shapes(tmp_path, caplog):
    spec = parity.official_keys(METHOD)
    net = MVVSR(**_kwargs(spec["config"]), faithful=True)
    own = net.state_dict()
    converter = find_converter(net)
    assert converter is not None and converter.matches(set(spec["keys"]))
    assert not converter.matches(set(own))   # vsrkit's own checkpoints are not taken for published ones
    mapping = converter.key_map(spec["keys"], net)
    dropped = {k for k, v in mapping.items() if v is None}
    assert dropped == set(spec["unused_keys"])
    kept = {k: v for k, v in mapping.items() if v is not None}
    assert sorted(kept.values()) == sorted(own)   # one to one onto every vsrkit key
    for published, ours in kept.items():
        assert tuple(own[ours].shape) == tuple(spec["keys"][published]), published
    # The whole path (file -> load_network -> converter, strict), with the dropped module logged.
    state = parity.fake_official_state(spec["keys"])
    for i, k in enumerate(state):
        state[k].fill_(i)
    with caplog.at_level(logging.INFO, logger="vsrkit"):
        parity.load_official(net, state, tmp_path, wrapper="model")
    assert "partion_map" in caplog.text and f"{len(dropped)} partion_map" in caplog.text
    loaded = net.state_dict()
    for published, ours in kept.items():
        assert torch.equal(loaded[ours], state[published]), published


def test_published_config_parameter_count_without_the_unused_module():
    spec = parity.official_keys(METHOD)
    unused = sum(math.prod(shape) for shape in spec["unused_keys"].values())
    assert unused == 221_568
    net = MVVSR(**_kwargs(spec["config"]), faithful=True)
    assert sum(p.numel() for p in net.parameters()) == spec["num_params"] - unused == spec["num_params_without_unused"]


def test_fixture_output_and_ablations(fix, tmp_path):
    assert fix["dtype"] == "float64" and fix["mode"] == "eval"
    inputs = _vsrkit_inputs(fix["inputs"])
    with torch.no_grad():
        out = _loaded(fix, tmp_path).eval()(**inputs)
    parity.assert_close(out, fix["output"], OUTPUT_TOL, "output")
    for name, expected in fix["output_ablations"].items():
        with torch.no_grad():
            out = _loaded(fix, tmp_path, **ABLATIONS[name]).eval()(**inputs)
        parity.assert_close(out, expected, OUTPUT_TOL, f"output with {name}")


def test_fixture_gradients(fix, tmp_path):
    net = _loaded(fix, tmp_path).train()
    inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in _vsrkit_inputs(fix["inputs"]).items()}
    net(**inputs).sum().backward()
    # Recorded names: 'input' (lq), 'input_<published field>', and published parameter names.
    ours = {"input": inputs["lq"], "input_mv_fwd": inputs["mv_bwd"], "input_mv_bwd": inputs["mv_fwd"]}
    key_map = find_converter(net).key_map(fix["grads"], net)
    params = dict(net.named_parameters())
    for name, expected in fix["grads"].items():
        tensor = ours[name] if name in ours else params[key_map[name]]
        assert tensor.grad is not None, name
        parity.assert_close(tensor.grad, expected, GRAD_TOL, f"gradient of {name}")


def test_default_warp_is_what_keeps_the_default_away_from_the_fixture(fix, tmp_path):
    """Only the faithful options reach 1e-9: the default (vsrkit) MV units and proxy move the output visibly."""
    inputs = _vsrkit_inputs(fix["inputs"])
    net = MVVSR(**_kwargs(fix["config"]))
    parity.load_official(net, fix["state_dict"], tmp_path)
    with torch.no_grad():
        diff = (net.double().eval()(**inputs) - fix["output"]).abs().max().item()
    assert diff > 1e-3
