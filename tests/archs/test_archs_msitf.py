"""MSITF space-time SR: published parameter count, official-checkpoint converter, parity with the published code
(``../shared/fixtures/msitf``), the faithful/default PCD difference, shapes, skips, ablation and option errors."""
import importlib.util
from pathlib import Path

import pytest
import torch

from vsrkit.archs.msitf_arch import MSITF, PCDInterp, space_time_skip
from vsrkit.archs.msitf_convert import MSITFConverter, published_to_vsrkit_key
from vsrkit.builders import build_network
from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS, CONVERTERS

_spec = importlib.util.spec_from_file_location("parity_fixture", Path(__file__).with_name("parity_fixture.py"))
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)

TINY = {"num_feat": 8, "deformable_groups": 2, "num_extract_blocks": 1, "attn_heads": 2, "swin_depths": [2],
        "swin_heads": 2}
# tolerances of the fixture README (float64): output 1e-9, gradients 1e-8 (abs)
OUTPUT_TOL, GRAD_TOL = 1e-9, 1e-8


def _from_published_config(config: dict, **kw) -> MSITF:
    """``Net(nf, nframes, groups, front_RBs, back_RBs)`` -> MSITF (``nframes`` and ``back_RBs`` are unused there)."""
    return MSITF(num_feat=config["nf"], deformable_groups=config["groups"], num_extract_blocks=config["front_RBs"],
                 **kw)


def _tiny(seed=0, **kw) -> MSITF:
    torch.manual_seed(seed)
    net = MSITF(**{**TINY, **kw})
    for dcn in (net.interp.l1_dcn, net.interp.l2_dcn, net.interp.l3_dcn) if hasattr(net, "interp") else ():
        torch.nn.init.normal_(dcn.offset_head[0].weight, std=0.05)  # leave zero init: non-trivial offsets
    return net.eval()


def _lq(n=1, t=4, h=10, w=13, seed=1):
    return torch.rand(n, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_registered_and_published_parameter_count():
    keys = parity.official_keys("msitf")
    assert ARCHS.get("MSITF") is MSITF
    net = _from_published_config(keys["config"])
    assert sum(p.numel() for p in net.parameters()) == keys["num_params"] == 5_585_611
    assert sum(p.numel() for p in MSITF().parameters()) == keys["num_params"]  # the constructor's defaults


def test_converter_maps_every_published_key_with_equal_shapes(tmp_path):
    keys = parity.official_keys("msitf")
    net = _from_published_config(keys["config"], faithful=True)
    assert isinstance(CONVERTERS.get("MSITF")(), MSITFConverter)
    state = parity.fake_official_state(keys["keys"])
    assert MSITFConverter().matches(set(state))
    converted, _ = MSITFConverter().convert(state, net)
    own = net.state_dict()
    assert len(converted) == len(state) == len(own)  # one to one
    assert set(converted) == set(own)
    for k, v in state.items():
        assert tuple(own[published_to_vsrkit_key(k)].shape) == tuple(v.shape), k
    # through the loader (load_network -> converter), the buffers included; 'module.' wrappers are stripped
    state = {k: torch.arange(v.numel()).remainder(97).view(v.shape).to(own[published_to_vsrkit_key(k)].dtype)
             for k, v in state.items()}
    parity.load_official(net, {"module." + k: v for k, v in state.items()}, tmp_path, wrapper="state_dict")
    loaded = net.state_dict()
    for k, v in state.items():
        assert torch.equal(loaded[published_to_vsrkit_key(k)], v), k


@pytest.mark.parametrize("dcn_backend", parity.DCN_BACKENDS)
def test_faithful_reproduces_the_published_output_and_gradients(tmp_path, monkeypatch, dcn_backend):
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", dcn_backend)
    fixture = parity.load_fixture("msitf")
    net = _from_published_config(fixture["config"], faithful=True)
    parity.load_official(net, fixture["state_dict"], tmp_path)
    dtype = getattr(torch, str(fixture["dtype"]).removeprefix("torch."))
    net = net.to(dtype)
    net.train(fixture["mode"] == "train")
    x = fixture["inputs"]["x"].to(dtype).clone().requires_grad_(True)
    out = net(x)
    parity.assert_close(out, fixture["output"], OUTPUT_TOL, "output")
    out.sum().backward()
    params = dict(net.named_parameters())
    for name, expected in fixture["grads"].items():
        grad = x.grad if name == "input" else params[published_to_vsrkit_key(name)].grad
        parity.assert_close(grad, expected, GRAD_TOL, f"grad {name}")


def test_pcd_deforms_the_first_input_when_faithful_and_the_midpoint_by_default():
    torch.manual_seed(0)
    faithful, default = PCDInterp(8, 2, faithful=True), PCDInterp(8, 2)
    default.load_state_dict(faithful.state_dict())
    pyramid = lambda seed: [torch.rand(1, 8, 8 // s, 12 // s, generator=torch.Generator().manual_seed(seed))
                            for s in (1, 2, 4)]
    a, b, b2 = pyramid(1), pyramid(2), pyramid(3)
    with torch.no_grad():
        # zero-initialised offset heads: offsets 0, masks 0.5; the second input can only act through the deformed
        # feature, which the published code never takes from it
        assert torch.equal(faithful(a, b), faithful(a, b2))
        assert (default(a, b) - default(a, b2)).abs().max() > 1e-3
        assert torch.allclose(default(a, a), faithful(a, a), atol=1e-6)  # same when both inputs agree
        assert (default(a, b) - faithful(a, b)).abs().max() > 1e-3


def test_default_and_faithful_networks_differ_with_the_same_weights():
    faithful = _tiny(faithful=True)
    default = _tiny()
    default.load_state_dict(faithful.state_dict())
    lq = _lq(t=2, h=8, w=8)
    with torch.no_grad():
        diff = (default(lq) - faithful(lq)).abs().amax(dim=(0, 2, 3, 4))
    assert (diff > 1e-5).all(), diff  # every output frame (the ConvLSTM and attention mix them all)


def test_shapes_published_frame_count_and_any_size():
    net = _tiny()
    with torch.no_grad():
        assert net(_lq(n=1, t=4, h=10, w=13)).shape == (1, 7, 3, 40, 52)  # 4 LR frames in, 7 HR frames out
        assert net(_lq(n=1, t=2, h=9, w=8)).shape == (1, 3, 3, 36, 32)


def test_gradients_reach_every_parameter_in_training_mode():
    net = _tiny(drop_path_rate=0.0).train()
    lq = _lq(t=2, h=8, w=8).requires_grad_(True)
    net(lq).square().mean().backward()
    assert torch.isfinite(lq.grad).all() and lq.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_batch_items_are_independent_and_padding_is_cropped():
    net = _tiny()
    lq = _lq(n=2, t=2, h=9, w=11)
    with torch.no_grad():
        both = net(lq)
        single = net(lq[1:])
    assert torch.allclose(both[1:], single, atol=1e-5)


def test_trilinear_skip_has_the_published_time_scale():
    t = 4
    lq = torch.arange(t, dtype=torch.float64).view(1, t, 1, 1, 1).expand(1, t, 3, 2, 2)  # frame k is constant k
    out = space_time_skip(lq, "trilinear")
    assert out.shape == (1, 7, 3, 8, 8)
    src = [min(max((j + 0.5) * t / (2 * t - 1) - 0.5, 0.0), t - 1) for j in range(2 * t - 1)]
    assert torch.allclose(out[0, :, 0, 0, 0], torch.tensor(src, dtype=torch.float64), atol=1e-12)
    assert abs(out[0, 2, 0, 0, 0].item() - 13 / 14) < 1e-12  # frame 2 = 1/14 f0 + 13/14 f1, not f1


def test_midpoint_skip_keeps_input_frames_and_averages_between():
    lq = _lq(t=3, h=5, w=6).double()
    out = space_time_skip(lq, "midpoint")
    up = torch.nn.functional.interpolate(lq[0], scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.allclose(out[0, 0::2], up, atol=1e-12)
    assert torch.allclose(out[0, 1::2], (up[:-1] + up[1:]) / 2, atol=1e-12)


def test_network_with_silent_head_returns_the_skip():
    net = _tiny(skip="midpoint")
    torch.nn.init.zeros_(net.conv_last.weight)
    torch.nn.init.zeros_(net.conv_last.bias)
    lq = _lq(t=2, h=8, w=8)
    with torch.no_grad():
        assert torch.allclose(net(lq), space_time_skip(lq, "midpoint"), atol=1e-6)


def test_repeat_ablation_has_no_interpolation_module_and_runs():
    full, ablation = _tiny(), _tiny(feature_interp="repeat")
    assert not hasattr(ablation, "interp")
    assert sum(p.numel() for p in ablation.parameters()) < sum(p.numel() for p in full.parameters())
    seq = torch.rand(1, 3, 8, 8, 8)
    assert torch.equal(ablation.interpolate_features(seq)[:, 1::2], seq[:, :-1])
    with torch.no_grad():
        assert ablation(_lq(t=2, h=8, w=8)).shape == (1, 3, 3, 32, 32)


def test_builds_from_options():
    net = build_network({"type": "MSITF", **TINY, "faithful": True})
    assert isinstance(net, MSITF) and net.faithful


@pytest.mark.parametrize("kw, match", [
    ({"deformable_groups": 3}, r"network_g.deformable_groups: 3 does not divide num_feat=8"),
    ({"attn_heads": 5}, r"network_g.attn_heads"),
    ({"swin_depths": 2}, r"network_g.swin_depths: must be a non-empty list"),
    ({"window_size": 7}, r"network_g.window_size"),
    ({"skip": "bicubic"}, r"network_g.skip: unknown value 'bicubic'"),
    ({"feature_interp": "flow"}, r"network_g.feature_interp"),
    ({"faithful": True, "skip": "midpoint"}, r"network_g.skip: 'midpoint' does not exist in the published"),
    ({"num_feat": "64"}, r"network_g.num_feat: must be an integer"),
])
def test_bad_options_raise_one_clear_error(kw, match):
    with pytest.raises(ConfigError, match=match):
        MSITF(**{**TINY, **kw})


def test_bad_input_shape_is_reported():
    with pytest.raises(ValueError, match=r"lq must be \(n, N >= 2, 3, h, w\)"):
        _tiny()(torch.rand(1, 1, 3, 8, 8))
