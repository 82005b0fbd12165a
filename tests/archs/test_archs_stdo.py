"""STDO backbones (WDSR-A, EDSR, ESPCN): published sizes, official checkpoints, parity with the published code
(``../shared/fixtures/stdo``, through the converters), clips, initialisation, configuration errors."""
import importlib.util
import logging
import math
from pathlib import Path

import pytest
import torch

from vsrkit.archs.official import find_converter
from vsrkit.archs.stdo_arch import EDSR, ESPCN, WDSR
from vsrkit.archs.stdo_convert import arch_from_published
from vsrkit.builders import build_network
from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS

_spec = importlib.util.spec_from_file_location("parity_fixture", Path(__file__).with_name("parity_fixture.py"))
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)

PARITY_FILES = ["parity_small.pt", "parity_small_edsr.pt", "parity_small_espcn.pt"]
MEAN_SHIFT = ("sub_mean.", "add_mean.")


def _published_entries():
    try:
        entries = parity.official_keys("stdo")
    except pytest.skip.Exception:
        return []
    return sorted(entries.items())


def _build(model: str, config: dict, **extra):
    arch, kwargs = arch_from_published(model, config)
    return ARCHS.get(arch)(**kwargs, **extra)


def _n_params(net) -> int:
    return sum(p.numel() for p in net.parameters())


def _to_parametrization_names(state: dict) -> dict:
    """Published WDSR keys as ``torch.nn.utils.parametrizations.weight_norm`` names them."""
    names = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}
    out = {}
    for k, v in state.items():
        module, _, param = k.rpartition(".")
        out[f"{module}.{names.get(param, param)}"] = v
    return out


def test_registered():
    assert ARCHS.get("WDSR") is WDSR and ARCHS.get("EDSR") is EDSR and ARCHS.get("ESPCN") is ESPCN
    assert build_network({"type": "WDSR", "scale": 2}).scale == 2


@pytest.mark.parametrize("name, entry", _published_entries() or [pytest.param("-", {}, marks=pytest.mark.skip)])
def test_published_configs_sizes_and_every_key_converted(name, entry, tmp_path):
    state = parity.fake_official_state(entry["keys"])
    extra = {"unused_mean_shift": True} if entry["class"] == "models.edsr.EDSR" else {}
    net = _build(entry["class"], entry["config"], **extra)
    assert _n_params(net) == entry["num_params"], name
    parity.load_official(net, state, tmp_path)  # strict: every key mapped, equal shapes
    if extra:  # default EDSR: the never-applied MeanShift is neither built nor loaded
        net = _build(entry["class"], entry["config"])
        unused = sum(math.prod(s) for k, s in entry["keys"].items() if k.startswith(MEAN_SHIFT))
        assert unused == 24 and _n_params(net) == entry["num_params"] - unused
        parity.load_official(net, state, tmp_path)
    if entry["class"] == "models.wdsr.MODEL":  # the parametrization names of newer torch load too
        parity.load_official(net, _to_parametrization_names(state), tmp_path)


def _run(net, fx):
    x = fx["inputs"]["x"].clone().requires_grad_(True)
    out = net(x)
    out.sum().backward()
    return x, out


@pytest.mark.parametrize("name", PARITY_FILES)
def test_parity_with_published_code(name, tmp_path):
    fx = parity.load_fixture("stdo", name)
    tol_out, tol_grad = 1e-9, 1e-8  # fixture README
    net = _build(fx["model"], fx["config"])
    parity.load_official(net, fx["state_dict"], tmp_path, wrapper="model_state_dict")  # trainer.py's layout
    net = net.double().train()
    x, out = _run(net, fx)
    parity.assert_close(out, fx["output"], tol_out, f"{name} output")
    converter, params = find_converter(net), dict(net.named_parameters())
    for key, grad in fx["grads"].items():
        got = x.grad if key == "input" else params[converter.rename(key, net) if converter else key].grad
        parity.assert_close(got, grad, tol_grad, f"{name} grad {key}")


def _forward(net, fx):
    with torch.no_grad():
        return net(fx["inputs"]["x"])


def test_wdsr_parity_from_parametrization_names_and_folded(tmp_path):
    fx = parity.load_fixture("stdo", "parity_small.pt")
    net = _build(fx["model"], fx["config"])
    parity.load_official(net, _to_parametrization_names(fx["state_dict"]), tmp_path)
    parity.assert_close(_forward(net.double(), fx), fx["output"], 1e-9, "parametrization names")
    # into plain convs: g * v / ||v|| folded in float64 -> same function up to rounding
    folded = _build(fx["model"], fx["config"], weight_norm=False).double()
    parity.load_official(folded, {k: v.double() for k, v in fx["state_dict"].items()}, tmp_path)
    assert not any("parametrizations" in k for k in folded.state_dict())
    parity.assert_close(_forward(folded, fx), fx["output"], 1e-12, "folded weight norm")
    # a vsrkit weight-normalised checkpoint folds too
    parity.load_official(folded, {k: v.double() for k, v in net.state_dict().items()}, tmp_path)
    parity.assert_close(_forward(folded, fx), fx["output"], 1e-12, "folded from vsrkit keys")
    assert _n_params(folded) == _n_params(net) - sum(m.weight.shape[0] for m in folded.modules()
                                                     if isinstance(m, torch.nn.Conv2d))


def test_edsr_drops_unused_mean_shift_with_a_note(tmp_path, caplog):
    fx = parity.load_fixture("stdo", "parity_small_edsr.pt")
    net = _build(fx["model"], fx["config"])
    with caplog.at_level(logging.INFO, logger="vsrkit"):
        parity.load_official(net, fx["state_dict"], tmp_path)
    assert "dropped add_mean.bias" in caplog.text and "never applied" in caplog.text


def _small(arch, scale):
    torch.manual_seed(0)
    kw = {"WDSR": {"num_residual_units": 8, "num_blocks": 2}, "EDSR": {"num_blocks": 1, "n_feats": 8},
          "ESPCN": {}}[arch]
    return ARCHS.get(arch)(scale=scale, **kw)


@pytest.mark.parametrize("arch", ["WDSR", "EDSR", "ESPCN"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_images_and_clips(arch, scale):
    net = _small(arch, scale)
    clip = torch.rand(2, 3, 3, 7, 9, requires_grad=True)
    out = net(clip)
    assert out.shape == (2, 3, 3, 7 * scale, 9 * scale)
    frame = net(clip[1, 2].detach().unsqueeze(0))  # clips are frames folded into the batch
    assert frame.shape == (1, 3, 7 * scale, 9 * scale)
    torch.testing.assert_close(out[1, 2], frame[0], atol=1e-6, rtol=0)
    out.square().mean().backward()
    assert torch.isfinite(clip.grad).all() and clip.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with pytest.raises(ValueError, match=r"expected \(n, 3, h, w\) images or \(n, t, 3, h, w\) clips"):
        net(torch.rand(1, 4, 8, 8))


def test_wdsr_leaves_its_input_alone_and_is_unclamped():
    net = _small("WDSR", 2)
    x = torch.rand(1, 3, 6, 6)
    before = x.clone()
    with torch.no_grad():
        torch.nn.init.constant_(net.tail.bias, 3.0)  # pushes the output far above 1
        out = net(x)
    assert torch.equal(x, before)  # the published `x -= 0.5` changes the caller's tensor
    assert out.max() > 1.5


def test_wdsr_mean_is_subtracted_and_added():
    net = WDSR(scale=2, num_residual_units=4, num_blocks=1, image_mean=0.25)
    for m in net.modules():  # zero every conv: output = mean everywhere
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.zeros_(m.bias)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("original0"):
                p.zero_()
    assert torch.equal(net(torch.rand(1, 3, 4, 5)), torch.full((1, 3, 8, 10), 0.25))


@pytest.mark.parametrize("weight_norm", [True, False])
def test_wdsr_published_initialisation(weight_norm):
    net = WDSR(scale=3, num_residual_units=8, num_blocks=4, width_multiplier=2, weight_norm=weight_norm)
    expected = {"head": 1.0, "tail": 1.0, "skip": 1.0}
    for i in range(4):
        expected |= {f"body.{i}.conv1": 2.0, f"body.{i}.conv2": 1 / math.sqrt(4)}
    modules = dict(net.named_modules())
    for name, g in expected.items():
        conv = modules[name]
        norms = conv.weight.detach().flatten(1).norm(dim=1)  # effective weight: every filter has norm g
        torch.testing.assert_close(norms, torch.full_like(norms, g))
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
        if weight_norm:
            assert torch.equal(conv.parametrizations.weight.original0, torch.full((conv.out_channels, 1, 1, 1), g))
    assert modules["body.0.conv1"].out_channels == 16 and modules["skip"].kernel_size == (5, 5)


def test_wdsr_width_multiplier_float_and_int():
    assert WDSR(num_residual_units=32, num_blocks=1, width_multiplier=2.5).body[0].conv1.out_channels == 80
    assert WDSR(num_residual_units=32, num_blocks=1, width_multiplier=4).body[0].conv1.out_channels == 128


@pytest.mark.parametrize("arch, kwargs, match", [
    ("WDSR", {"scale": 1}, r"WDSR: scale must be an integer >= 2, got 1"),
    ("WDSR", {"scale": 2.0}, r"WDSR: scale must be an integer"),
    ("WDSR", {"width_multiplier": 0}, r"WDSR: width_multiplier must be a positive number"),
    ("WDSR", {"num_blocks": -1}, r"WDSR: num_blocks must be an integer >= 0"),
    ("WDSR", {"image_mean": "0.5"}, r"WDSR: image_mean must be a number"),
    ("EDSR", {"scale": 5}, r"EDSR: scale must be 3 or a power of two, got 5"),
    ("EDSR", {"res_scale": 0}, r"EDSR: res_scale must be a positive number"),
    ("EDSR", {"num_channels": 1, "unused_mean_shift": True}, r"EDSR: unused_mean_shift needs num_channels 3"),
    ("ESPCN", {"scale": True}, r"ESPCN: scale must be an integer"),
])
def test_bad_values_raise_config_error(arch, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ARCHS.get(arch)(**kwargs)


def test_published_config_translation():
    assert arch_from_published("models.espcn.ESPCN", {"scale": 3}) == ("ESPCN", {"scale": 3})
    arch, kwargs = arch_from_published("models.wdsr.MODEL", {"scale": 2, "temporal_size": None})
    assert (arch, kwargs) == ("WDSR", {"scale": 2})
    with pytest.raises(ConfigError, match="temporal_size=5 is not supported"):
        arch_from_published("models.wdsr.MODEL", {"scale": 2, "temporal_size": 5})
    with pytest.raises(ConfigError, match="config key 'n_resblocks' has no vsrkit EDSR counterpart"):
        arch_from_published("models.edsr.EDSR", {"n_resblocks": 2})
    with pytest.raises(ConfigError, match="unknown published STDO model"):
        arch_from_published("models.carn.CARN", {})
