"""MV-VSR / SPyNet baseline: shapes, gradients, motion conventions, P-frame proxy, second order, ablations."""
import copy

import pytest
import torch

from vsrkit.archs.blocks import flow_warp
from vsrkit.archs.mvvsr_arch import MVVSR, pframe_proxy, published_pframe_proxy, published_warp
from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS

I, P, B = 1, 2, 3


def _net(**kw):
    torch.manual_seed(0)
    kw = {"mid_channels": 8, "num_blocks": 1, **kw}
    net = MVVSR(**kw)
    if kw.get("alignment", "mv") == "mv":  # leave zero init: give the refiner a non-trivial correction
        torch.nn.init.normal_(net.mv_refiner.net[-1].weight, std=0.05)
    return net.eval()


def _clip(t=4, h=16, w=16, n=1, seed=1):
    g = torch.Generator().manual_seed(seed)
    lq = torch.rand(n, t, 3, h, w, generator=g)
    mv_bwd = torch.randn(n, t, 2, h, w, generator=g)
    mv_fwd = torch.randn(n, t, 2, h, w, generator=g)
    return lq, mv_bwd, mv_fwd


def test_registered_and_default_parameter_count():
    assert ARCHS.get("MVVSR") is MVVSR
    assert sum(p.numel() for p in MVVSR().parameters()) == 2_597_925  # published 2.598M
    # SPyNet baseline: same trunk + SPyNet (1.44M), no MV refiner (1,186).
    assert sum(p.numel() for p in MVVSR(alignment="spynet").parameters()) == 2_597_925 - 1_186 + 1_440_300


@pytest.mark.parametrize("alignment", ["mv", "spynet", "none"])
def test_shapes_and_gradients(alignment):
    net = _net(alignment=alignment).train()
    lq, mv_bwd, mv_fwd = _clip(n=2)
    lq.requires_grad_(True)
    out = net(lq, mv_bwd, mv_fwd, torch.tensor([[I, P, B, P]] * 2))
    assert out.shape == (2, 4, 3, 64, 64)
    out.square().mean().backward()
    assert lq.grad is not None and torch.isfinite(lq.grad).all()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    if alignment == "mv":
        assert net.mv_refiner.net[-1].weight.grad.abs().sum() > 0
    if alignment == "spynet":
        assert net.spynet.levels[-1].convs[-1].weight.grad.abs().sum() > 0


def test_scale_two_and_image_skip():
    net = _net(scale=2, image_skip="bicubic")
    lq, mv_bwd, mv_fwd = _clip(t=2)
    assert net(lq, mv_bwd, mv_fwd).shape == (1, 2, 3, 32, 32)


def test_zero_init_refiner_warps_by_the_codec_motion_in_lr_pixels():
    net = MVVSR(mid_channels=8, num_blocks=1)
    lq, mv_bwd, mv_fwd = _clip()
    flows_bwd, flows_fwd = net.compute_flows(lq, mv_bwd, mv_fwd)
    assert torch.equal(flows_bwd, mv_bwd) and torch.equal(flows_fwd, mv_fwd)
    published = MVVSR(mid_channels=8, num_blocks=1, published_mv_scaling=True)
    assert torch.allclose(published.compute_flows(lq, mv_bwd, mv_fwd)[0], mv_bwd / 4.0)


def test_unused_motion_fields_do_not_matter_and_used_ones_do():
    net = _net()
    lq, mv_bwd, mv_fwd = _clip()
    ref = net(lq, mv_bwd, mv_fwd)
    b2, f2 = mv_bwd.clone(), mv_fwd.clone()
    b2[:, 0] += 5.0   # frame 0 has no predecessor
    f2[:, -1] += 5.0  # the last frame has no successor
    assert torch.equal(net(lq, b2, f2), ref)
    b3 = mv_bwd.clone()
    b3[:, 1] += 1.0
    assert not torch.allclose(net(lq, b3, mv_fwd), ref)
    f3 = mv_fwd.clone()
    f3[:, 2] += 1.0
    assert not torch.allclose(net(lq, mv_bwd, f3), ref)


def test_pframe_proxy_function_fills_only_missing_fields_of_p_frames():
    mv_bwd = torch.randn(1, 4, 2, 3, 3)
    mv_fwd = torch.randn(1, 4, 2, 3, 3)
    mv_fwd[:, 1] = 0    # P-frame: no motion towards t+1
    mv_fwd[:, 2] = 0    # B-frame with a missing field: not a P-frame, untouched
    types = torch.tensor([[I, P, B, P]])   # frame 3 is P with both fields present: untouched
    b, f = pframe_proxy(mv_bwd, mv_fwd, types)
    assert torch.equal(b, mv_bwd)
    assert torch.equal(f[:, 1], -mv_bwd[:, 1])
    assert torch.equal(f[:, [0, 2, 3]], mv_fwd[:, [0, 2, 3]])
    # The other direction: a P-frame that only has a future-pointing field gets the negated one as mv_bwd.
    b2 = mv_bwd.clone()
    b2[:, 3] = 0
    b, _ = pframe_proxy(b2, mv_fwd, types)
    assert torch.equal(b[:, 3], -mv_fwd[:, 3])
    # The published selection (== 1) hits the I-frame instead.
    mv_fwd0 = mv_fwd.clone()
    mv_fwd0[:, 0] = 0
    _, f = pframe_proxy(mv_bwd, mv_fwd0, types, frame_type=1)
    assert torch.equal(f[:, 0], -mv_bwd[:, 0]) and torch.equal(f[:, 1], mv_fwd0[:, 1])


def _with_proxy(net, on):
    other = copy.deepcopy(net)
    other.pframe_proxy = on
    return other


def test_pframe_proxy_changes_output_only_when_it_should():
    net = _net()
    lq, mv_bwd, mv_fwd = _clip()
    mv_fwd[:, 1] = 0  # a P-frame's missing field
    on, off = _with_proxy(net, True), _with_proxy(net, False)
    with_p = torch.tensor([[I, P, P, P]])
    assert not torch.allclose(on(lq, mv_bwd, mv_fwd, with_p), off(lq, mv_bwd, mv_fwd, with_p))
    # No P-frames: no effect.
    no_p = torch.tensor([[I, B, B, B]])
    assert torch.equal(on(lq, mv_bwd, mv_fwd, no_p), off(lq, mv_bwd, mv_fwd, no_p))
    # P-frames but no missing field: no effect.
    full = torch.randn_like(mv_fwd)
    assert torch.equal(on(lq, mv_bwd, full, with_p), off(lq, mv_bwd, full, with_p))
    # No frame types given: no effect.
    assert torch.equal(on(lq, mv_bwd, mv_fwd), off(lq, mv_bwd, mv_fwd))


@pytest.mark.parametrize("alignment", ["mv", "spynet", "none"])
def test_second_order_matters_only_from_three_frames(alignment):
    first = _net(alignment=alignment, second_order=False)
    second = copy.deepcopy(first)
    second.second_order = True
    lq, mv_bwd, mv_fwd = _clip(t=2)
    assert torch.equal(first(lq, mv_bwd, mv_fwd), second(lq, mv_bwd, mv_fwd))
    lq, mv_bwd, mv_fwd = _clip(t=3)
    a, b = first(lq, mv_bwd, mv_fwd), second(lq, mv_bwd, mv_fwd)
    # The first two steps of each pass are first order: frame 0 of the forward pass and frame 2 of the backward
    # pass differ only through the other direction's third step.
    assert not torch.allclose(a, b)


def test_ablate_mvs_equals_zero_motion_and_none_ignores_motion():
    net = _net()
    lq, mv_bwd, mv_fwd = _clip()
    ablated = copy.deepcopy(net)
    ablated.ablate_mvs = True
    zeros = torch.zeros_like(mv_bwd)
    assert torch.equal(ablated(lq, mv_bwd, mv_fwd), net(lq, zeros, zeros))
    assert not torch.allclose(ablated(lq, mv_bwd, mv_fwd), net(lq, mv_bwd, mv_fwd))
    none = _net(alignment="none")
    assert torch.equal(none(lq, mv_bwd, mv_fwd), none(lq))


def test_translation_motion_aligns_the_recurrent_state():
    # A clip panning right by 2 px/frame: with the true motion, the forward-pass warp of frame t-1's features
    # lines up with frame t's; with zero motion it does not. Checked on the feature-extractor output.
    net = _net(alignment="mv")
    base = torch.rand(1, 3, 16, 40)
    lq = torch.stack([base[..., 8 - 2 * k: 32 - 2 * k] for k in range(3)], dim=1)  # frame k = base shifted right
    mv_bwd = torch.zeros(1, 3, 2, 16, 24)
    mv_bwd[:, :, 0] = -2.0
    net.mv_refiner.net[-1].weight.data.zero_()
    flows_bwd, _ = net.compute_flows(lq, mv_bwd, torch.zeros_like(mv_bwd))
    from vsrkit.archs.blocks import flow_warp
    warped = flow_warp(lq[:, 0], flows_bwd[:, 1], padding_mode="border")
    assert torch.allclose(warped[..., 2:], lq[:, 1][..., 2:], atol=1e-6)


def test_bad_options_and_missing_motion_raise_clear_errors():
    with pytest.raises(ConfigError, match="alignment"):
        MVVSR(alignment="flow")
    with pytest.raises(ConfigError, match="power of two"):
        MVVSR(scale=3)
    with pytest.raises(ConfigError, match="spynet_pretrained"):
        MVVSR(alignment="mv", spynet_pretrained="x.pth")
    lq, _, _ = _clip()
    with pytest.raises(ConfigError, match="mv_bwd and mv_fwd"):
        _net()(lq)


def test_image_skip_network_starts_as_the_upsampled_image():
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = MVVSR(mid_channels=8, num_blocks=1, alignment="none", image_skip="bicubic").eval()
    lq = torch.rand(1, 3, 3, 8, 8)
    with torch.no_grad():
        out = net(lq)
    ref = F.interpolate(lq[0], scale_factor=4, mode="bicubic", align_corners=False)
    torch.testing.assert_close(out[0], ref, atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------------------ faithful (published) mode
def test_published_proxy_replaces_mv_fwd_of_type_1_frames_unconditionally():
    mv_bwd, mv_fwd = torch.randn(1, 4, 2, 3, 3), torch.randn(1, 4, 2, 3, 3)   # both fields present everywhere
    b, f = published_pframe_proxy(mv_bwd, mv_fwd, torch.tensor([[I, P, B, I]]))
    assert torch.equal(b, mv_bwd)                        # one direction only
    assert torch.equal(f[:, [0, 3]], -mv_bwd[:, [0, 3]])  # type 1, whatever mv_fwd held
    assert torch.equal(f[:, [1, 2]], mv_fwd[:, [1, 2]])


def test_faithful_mode_uses_the_published_proxy_and_mv_scaling():
    net = _net(faithful=True)
    lq, mv_bwd, mv_fwd = _clip()
    types = torch.tensor([[I, I, P, B]])
    ref = net(lq, mv_bwd, mv_fwd, types)
    f2 = mv_fwd.clone()
    f2[:, 1] += 3.0           # replaced on the type-1 frame: no effect
    assert torch.equal(net(lq, mv_bwd, f2, types), ref)
    f3 = mv_fwd.clone()
    f3[:, 2] += 3.0           # a P-frame keeps its own field
    assert not torch.allclose(net(lq, mv_bwd, f3, types), ref)
    b2 = mv_bwd.clone()
    b2[:, 0] += 3.0           # frame 0's past field only matters through the proxy (frame 0 is type 1)
    assert not torch.allclose(net(lq, b2, mv_fwd, types), ref)
    off = copy.deepcopy(net)
    off.pframe_proxy = False
    assert not torch.allclose(off(lq, mv_bwd, mv_fwd, types), ref)
    # MV units: flow = mv/4 + refiner(mv/4).
    refiner = net.mv_refiner.net
    flows_bwd, _ = net.compute_flows(lq, mv_bwd, mv_fwd)
    x = mv_bwd[0] / 4.0
    torch.testing.assert_close(flows_bwd[0], x + refiner(x), atol=1e-6, rtol=0)


def test_faithful_ablate_mvs_still_runs_the_refiner_on_zero_motion():
    net = _net(faithful=True, ablate_mvs=True)
    lq, mv_bwd, mv_fwd = _clip()
    zeros = torch.zeros_like(mv_bwd)
    assert torch.equal(net(lq, mv_bwd, mv_fwd, torch.tensor([[I, P, I, B]])), net(lq, zeros, zeros))


def test_published_warp_differs_from_flow_warp_only_by_its_float32_grid():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 9, 13, generator=g, dtype=torch.float64)
    flow = 4 * torch.randn(2, 2, 9, 13, generator=g, dtype=torch.float64)
    diff = (published_warp(x, flow) - flow_warp(x, flow, padding_mode="border")).abs().max().item()
    assert 0 < diff < 1e-6
    assert torch.allclose(published_warp(x.float(), flow.float()), flow_warp(x.float(), flow.float(), "border"),
                          atol=1e-5)
    with pytest.raises(ValueError, match="h=1"):
        published_warp(x[:, :, :1], flow[:, :, :1])


@pytest.mark.parametrize("key, value", [("alignment", "spynet"), ("scale", 2), ("image_skip", "bicubic"),
                                        ("warp_padding", "zeros"), ("mv_norm", 1.0), ("refiner_channels", 16)])
def test_faithful_refuses_options_the_published_network_lacks(key, value):
    with pytest.raises(ConfigError, match=f"network_g.{key}: .*faithful"):
        MVVSR(mid_channels=8, num_blocks=1, faithful=True, **{key: value})
