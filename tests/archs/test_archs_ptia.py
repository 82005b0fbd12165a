"""PTIA: published parameter count, official-checkpoint converter, parity with the published code
(``../shared/fixtures/ptia``, through the converter), and
behaviour: shapes, batch independence, frozen SPyNet, affine-offset layout, TBIA flow refinement, CAFS query, offset
bound, ablations, VGG weights, option errors."""
import importlib.util
from pathlib import Path

import pytest
import torch

from vsrkit.archs.blocks import flow_warp
from vsrkit.archs.cafs import CAFSBlock
from vsrkit.archs.ptia_arch import PTIA
from vsrkit.archs.ptia_convert import CONSTANT_BUFFERS, PTIAConverter, official_config_to_kwargs, official_key
from vsrkit.archs.tbia import TBIA, AffineOffsets, GroupedConv2d
from vsrkit.archs.vgg import TORCHVISION_INDEX, VGGFeatureEncoder, load_vgg16
from vsrkit.errors import CheckpointError, ConfigError
from vsrkit.registry import ARCHS

_spec = importlib.util.spec_from_file_location("parity_fixture", Path(__file__).with_name("parity_fixture.py"))
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)

TINY = {"mid_channels": 16, "num_blocks": 1, "num_recon_blocks": 1}


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread is faster than two on a shared 2-core runner (no spin-waiting)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny(**kw):
    torch.manual_seed(0)
    return PTIA(**{**TINY, **kw})


def _clip(n=1, t=3, h=16, w=20, seed=1):
    return torch.rand(n, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- published configuration, checkpoints
def test_registered_and_published_default_has_the_fixture_parameter_count():
    keys = parity.official_keys("ptia")
    assert ARCHS.get("PTIA") is PTIA
    net = PTIA(**official_config_to_kwargs(keys["config"]))
    assert sum(p.numel() for p in net.parameters()) == keys["num_params"] == sum(p.numel() for p in PTIA().parameters())


def test_converter_maps_every_official_key_with_equal_shapes(tmp_path):
    keys = parity.official_keys("ptia")
    net = PTIA(**official_config_to_kwargs(keys["config"]))
    own = net.state_dict()
    state = parity.fake_official_state(keys["keys"])
    assert PTIAConverter().matches(set(state))
    converted, notes = PTIAConverter().convert(state, net)
    dropped = [k for k in keys["keys"] if CONSTANT_BUFFERS.match(k)]
    assert sorted(dropped) == sorted(keys["buffers"]) and any("constant buffers" in n for n in notes)
    for key, shape in keys["keys"].items():
        if key in dropped:
            continue
        new = official_key(key)
        assert new in own, f"{key} -> {new} is not a PTIA key"
        assert tuple(own[new].shape) == tuple(shape), key
    assert set(converted) == set(own)  # every parameter of the network gets a published tensor
    parity.load_official(net, {k: torch.full(s, 0.5) for k, s in keys["keys"].items()}, tmp_path, wrapper="params")
    assert all(torch.equal(v, torch.full_like(v, 0.5)) for v in net.state_dict().values())


@pytest.mark.slow
@pytest.mark.parametrize("dcn_backend", parity.DCN_BACKENDS)
def test_parity_with_the_published_code(tmp_path, monkeypatch, dcn_backend):
    """Output and recorded gradients of ``parity_small.pt`` (float64, CPU, each CPU DCN backend), README tolerances."""
    monkeypatch.setenv("VSRKIT_DCN_BACKEND", dcn_backend)
    fix = parity.load_fixture("ptia")
    net = PTIA(**official_config_to_kwargs(fix["config"]))
    parity.load_official(net, fix["state_dict"], tmp_path)
    net = net.double()
    lrs = fix["inputs"]["lrs"].clone().requires_grad_(True)
    with torch.no_grad():
        flows_forward, flows_backward = net.eval().compute_flows(lrs)
    parity.assert_close(flows_forward, fix["intermediates"]["flows_forward"], 1e-9, "SPyNet flows_forward")
    parity.assert_close(flows_backward, fix["intermediates"]["flows_backward"], 1e-9, "SPyNet flows_backward")
    # No dropout or normalisation statistics: train and eval compute the same function (fixture README, item 7), so
    # one train-mode pass gives both the output and the gradients.
    out = net.train()(lrs)
    parity.assert_close(out, fix["output"], 1e-9, "output")
    out.sum().backward()
    params = dict(net.named_parameters())
    for name, grad in fix["grads"].items():
        actual = lrs.grad if name == "input" else params[official_key(name)].grad
        parity.assert_close(actual, grad, 1e-8, f"gradient of {name}")
    for name in fix["grads_none"]:
        assert params[official_key(name)].grad is None, f"{name} must get no gradient (frozen SPyNet)"


# ----------------------------------------------------------------------------- behaviour
def test_shapes_non_square_batch_and_gradients():
    net = _tiny().train()
    lq = _clip(n=2, t=3, h=12, w=20).requires_grad_(True)
    out = net(lq)
    assert out.shape == (2, 3, 3, 48, 80)
    out.square().mean().backward()
    assert torch.isfinite(lq.grad).all() and lq.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        if name.startswith("spynet."):
            assert p.grad is None, f"{name}: SPyNet is frozen by default (published no_grad)"
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_batch_items_are_independent_and_clip_length_one_and_two_work():
    net = _tiny().eval()
    lq = _clip(n=2, t=3)
    with torch.no_grad():
        both = net(lq)
        assert torch.allclose(both[1:], net(lq[1:]), atol=1e-5)
        assert net(lq[:, :1]).shape == (2, 1, 3, 64, 80)
        assert net(lq[:, :2]).shape == (2, 2, 3, 64, 80)


def test_input_size_not_divisible_by_4_is_refused():
    with pytest.raises(ValueError, match="divisible by 4"):
        _tiny()(torch.rand(1, 2, 3, 16, 18))


def test_train_spynet_option_gives_spynet_gradients():
    net = _tiny(train_spynet=True).train()
    net(_clip(t=2, h=16, w=16)).mean().backward()
    assert all(p.grad is not None for p in net.spynet.parameters())


def test_affine_offsets_layout_is_group_point_dy_dx():
    block = AffineOffsets(channels=4, groups=2, kernel_size=3, with_mask=True)
    for conv in (block.matrix, block.translation, block.mask):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    # group 0: identity matrix, translation (dy, dx) = (0.25, -0.5); group 1: A = 2I, no translation
    block.matrix.bias.data = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 2.0])
    block.translation.bias.data = torch.tensor([0.25, -0.5, 0.0, 0.0])
    offsets, masks = block(torch.rand(1, 4, 5, 6), torch.rand(1, 4, 5, 6))
    assert offsets.shape == (1, 36, 5, 6) and masks.shape == (1, 18, 5, 6)
    assert torch.allclose(masks, torch.full_like(masks, 0.5))
    grid = [(dy, dx) for dy in (-1.0, 0.0, 1.0) for dx in (-1.0, 0.0, 1.0)]
    expected = [0.25, -0.5] * 9 + [v for point in grid for v in point]  # A p - p + t
    assert torch.allclose(offsets[0, :, 2, 3], torch.tensor(expected))


def test_grouped_conv_float64_path_equals_the_plain_convolution():
    torch.manual_seed(0)
    conv = GroupedConv2d(8, 4, 3, 1, 1, groups=4).double()
    x = torch.rand(2, 8, 5, 7, dtype=torch.float64)
    ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1, groups=4)
    assert torch.allclose(conv(x), ref, atol=1e-12)


def test_tbia_keeps_the_flow_when_residual_flows_are_zero_and_aligns_by_it():
    torch.manual_seed(0)
    tbia = TBIA(channels=8, deformable_groups=8, cafs=False).double()
    for level in tbia.levels:
        torch.nn.init.zeros_(level.to_flow.weight)
        torch.nn.init.zeros_(level.to_flow.bias)
    pyr = lambda: tuple(torch.rand(1, 8, 16 // s, 16 // s, dtype=torch.float64) for s in (1, 2, 4))  # noqa: E731
    nbr, cur = pyr(), pyr()
    flow = torch.randn(1, 2, 16, 16, dtype=torch.float64)
    assert torch.equal(tbia.refine_flow(nbr, cur, flow), flow)
    # zero DCN offsets, all-ones masks and a centre-tap identity kernel: output = the flow-warped feature
    for conv in (tbia.dcn_offsets.matrix, tbia.dcn_offsets.translation, tbia.dcn_offsets.mask):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    tbia.dcn_offsets.matrix.bias.data = torch.tensor([1.0, 0.0, 0.0, 1.0] * 8, dtype=torch.float64)
    tbia.dcn_offsets.mask.bias.data.fill_(50.0)
    tbia.dcn.weight.data.zero_()
    tbia.dcn.weight.data[:, :, 1, 1] = torch.eye(8, dtype=torch.float64)
    feat = torch.rand(1, 8, 16, 16, dtype=torch.float64)
    from vsrkit.archs.blocks import flow_warp
    assert torch.allclose(tbia(nbr, cur, feat, flow), flow_warp(feat, flow), atol=1e-9)


def test_cafs_first_token_query_is_broadcast_and_all_tokens_differs():
    torch.manual_seed(0)
    block = CAFSBlock(dim=16, num_heads=8).eval()
    tokens = torch.randn(2, 12, 16)
    att = block.attention(tokens)
    assert att.shape == (2, 1, 16)  # one result per map, added to every position
    # explicit reference: query = token 0 of LN(x), keys/values = all tokens
    normed = block.norm_attn(tokens)
    heads = lambda x: x.view(2, -1, 8, 2).transpose(1, 2)  # noqa: E731
    q, k, v = heads(block.q(normed[:, :1])), heads(block.k(normed)), heads(block.v(normed))
    ref = ((q @ k.transpose(-2, -1)) * 2 ** -0.5).softmax(-1) @ v
    assert torch.allclose(att, block.proj(ref.transpose(1, 2).reshape(2, 1, 16)), atol=1e-6)
    feat = torch.randn(2, 16, 3, 4)
    first = block(feat)
    block.query = "all_tokens"
    assert block.attention(tokens).shape == (2, 12, 16)
    assert not torch.allclose(block(feat), first, atol=1e-4)
    single = torch.randn(2, 16, 1, 1)  # one token: both queries are the same computation
    block.query = "first_token"
    a = block(single)
    block.query = "all_tokens"
    assert torch.allclose(block(single), a, atol=1e-6)


def test_cafs_query_option_changes_the_network_output():
    lq = _clip(t=2, h=8, w=8)
    with torch.no_grad():
        assert not torch.allclose(_tiny()(lq), _tiny(cafs_query="all_tokens")(lq), atol=1e-6)


def test_offset_bound_limits_the_dcn_offsets():
    seen = []
    for bound in (None, 0.01):
        net = _tiny(offset_bound=bound).eval()
        hook = net.align["forward_1"].dcn.register_forward_pre_hook(lambda m, args: seen.append(args[1].abs().max()))
        with torch.no_grad():
            net(_clip(t=2, h=8, w=8))
        hook.remove()
    assert seen[0] > 0.01 >= seen[1]


def test_identity_init_starts_tbia_at_the_flow_warp():
    """alignment_init='identity': zero residual flows, zero DCN offsets, masks 0.5; only the last convs change, and
    they still learn."""
    torch.manual_seed(0)
    tbia = TBIA(16, 8, init="identity").double()
    nbr, cur = (tuple(torch.randn(2, 16, 16 // s, 20 // s, dtype=torch.float64) for s in (1, 2, 4)) for _ in "nc")
    feat, flow = torch.randn(2, 16, 16, 20, dtype=torch.float64), 3 * torch.randn(2, 2, 16, 20, dtype=torch.float64)
    assert torch.equal(tbia.refine_flow(nbr, cur, flow), flow)
    offsets, masks = tbia.dcn_offsets(nbr[0], cur[0])
    assert torch.equal(offsets, torch.zeros_like(offsets)) and torch.equal(masks, torch.full_like(masks, 0.5))
    out = tbia(nbr, cur, feat, flow)
    plain = torch.nn.functional.conv2d(flow_warp(feat, flow), tbia.dcn.weight, tbia.dcn.bias, padding=1)
    torch.testing.assert_close(out, tbia.cafs(0.5 * plain), rtol=1e-10, atol=1e-10)
    out.square().mean().backward()
    assert tbia.dcn_offsets.matrix.weight.grad.abs().max() > 0 and tbia.levels[2].to_flow.weight.grad.abs().max() > 0
    published, identity = _tiny(), _tiny(alignment_init="identity")
    assert published.state_dict().keys() == identity.state_dict().keys()
    assert not torch.equal(published.align["backward_1"].dcn_offsets.matrix.bias,
                           identity.align["backward_1"].dcn_offsets.matrix.bias)


@pytest.mark.parametrize("alignment", ["flow", "none"])
def test_alignment_ablations(alignment):
    net = _tiny(alignment=alignment).train()
    assert len(net.align) == 0 and (net.spynet is None) == (alignment == "none")
    full = sum(p.numel() for p in _tiny().parameters())
    assert sum(p.numel() for p in net.parameters()) < full
    out = net(_clip(t=3, h=8, w=8))
    assert out.shape == (1, 3, 3, 32, 32)
    out.mean().backward()
    assert net.trunk["forward_2"].conv_in.weight.grad is not None


def test_bad_options_raise_one_line_config_errors():
    for kwargs, match in (({"mid_channels": 60}, "mid_channels"), ({"alignment": "dcn"}, "alignment"),
                          ({"cafs_query": "all"}, "cafs_query"), ({"scale": 3}, "scale"),
                          ({"offset_bound": -1.0}, "offset_bound"), ({"num_blocks": -1}, "num_blocks"),
                          ({"alignment_init": "zeros"}, "alignment_init")):
        with pytest.raises(ConfigError, match=f"network_g.{match}") as err:
            PTIA(**{**TINY, **kwargs})
        assert "\n" not in str(err.value)


def test_vgg_weights_load_from_a_torchvision_file(tmp_path):
    torch.manual_seed(0)
    src = VGGFeatureEncoder(8)
    state = {f"features.{TORCHVISION_INDEX[name]}.{p}": src.vgg.state_dict()[f"{name}.{p}"]
             for name in TORCHVISION_INDEX for p in ("weight", "bias")}
    state |= {"features.12.weight": torch.zeros(256, 256, 3, 3), "classifier.0.bias": torch.zeros(4096)}
    torch.save(state, tmp_path / "vgg16.pth")
    net = _tiny(vgg_pretrained=str(tmp_path / "vgg16.pth"))
    for key, value in src.vgg.state_dict().items():
        assert torch.equal(net.encoder.vgg.state_dict()[key], value), key
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="not a VGG16 weight file"):
        load_vgg16(str(tmp_path / "bad.pth"), VGGFeatureEncoder(8))
    with pytest.raises(CheckpointError, match="not found"):
        load_vgg16(str(tmp_path / "missing.pth"), VGGFeatureEncoder(8))
