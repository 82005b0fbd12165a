"""Shared building blocks: flow warp direction and padding, flow composition, residual blocks, upsampler."""
import pytest
import torch

from vsrkit.archs.blocks import (PixelShuffleUpsampler, ResidualBlock, compose_flow, flow_warp, make_layer,
                                 upsample_image)


def _const_flow(n, h, w, dx, dy):
    flow = torch.zeros(n, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_zero_flow_is_identity():
    x = torch.rand(2, 3, 9, 11)
    out = flow_warp(x, torch.zeros(2, 2, 9, 11))
    assert torch.allclose(out, x, atol=1e-6)


def test_backward_warp_direction_matches_vsrkit_convention():
    # Content moves right by 2 px and down by 1 px per frame: cur(x, y) = prev(x - 2, y - 1).
    prev = torch.rand(1, 3, 12, 14)
    cur = torch.zeros_like(prev)
    cur[..., 1:, 2:] = prev[..., :-1, :-2]
    # Backward flow of cur = where its pixels come from in prev = (-2, -1).
    aligned = flow_warp(prev, _const_flow(1, 12, 14, -2.0, -1.0))
    assert torch.allclose(aligned[..., 1:, 2:], cur[..., 1:, 2:], atol=1e-6)


def test_half_pixel_is_bilinear_average_and_padding_modes_differ():
    x = torch.arange(6.0).view(1, 1, 1, 6).repeat(1, 1, 3, 1)
    out = flow_warp(x, _const_flow(1, 3, 6, 0.5, 0.0))
    assert torch.allclose(out[0, 0, :, :5], (x[0, 0, :, :5] + x[0, 0, :, 1:]) / 2)
    # Sampling at x = 5.5 lies half outside: zeros padding halves the last value, border padding keeps it.
    assert out[0, 0, 0, 5].item() == pytest.approx(2.5)
    border = flow_warp(x, _const_flow(1, 3, 6, 0.5, 0.0), padding_mode="border")
    assert border[0, 0, 0, 5].item() == pytest.approx(5.0)


def test_warp_keeps_low_precision_dtype_and_accuracy():
    x = torch.rand(1, 2, 8, 300)
    flow = _const_flow(1, 8, 300, 1.0, 0.0)
    ref = flow_warp(x, flow)
    low = flow_warp(x.to(torch.bfloat16), flow)
    assert low.dtype == torch.bfloat16
    # Coordinates are computed in fp32: the error is only bf16 rounding of the values (< 2^-8 relative).
    assert (low.float() - ref).abs().max().item() < 8e-3


def test_warp_rejects_mismatched_flow():
    with pytest.raises(ValueError, match="flow shape"):
        flow_warp(torch.rand(1, 3, 8, 8), torch.zeros(1, 2, 8, 7))


def test_compose_flow_adds_translations_and_equals_two_warps():
    h, w = 16, 16
    f1, f2 = _const_flow(1, h, w, 1.0, 0.0), _const_flow(1, h, w, 2.0, -1.0)
    chain = compose_flow(f1, f2)
    assert torch.allclose(chain, _const_flow(1, h, w, 3.0, -1.0))
    img = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    two_steps = flow_warp(flow_warp(img, f2), f1)
    one_step = flow_warp(img, chain)
    inner = (slice(None), slice(None), slice(2, h - 2), slice(2, w - 4))
    # grid_sample's normalised coordinates round to ~1e-7 px, so whole-pixel shifts mix in neighbours at that
    # level: over 200 random images the two routes differ by at most 1.7e-6 (1e-6 failed on some).
    assert torch.allclose(two_steps[inner], one_step[inner], atol=1e-5)


def test_compose_flow_follows_spatially_varying_flow():
    # f1 points 1 px right; f2 varies along x, so the chain must read f2 one pixel further right.
    h, w = 4, 8
    f1 = _const_flow(1, h, w, 1.0, 0.0)
    f2 = torch.zeros(1, 2, h, w)
    f2[:, 0] = torch.arange(w, dtype=torch.float32)
    chain = compose_flow(f1, f2)
    assert torch.allclose(chain[0, 0, :, :-1], 1.0 + torch.arange(1, w, dtype=torch.float32).expand(h, -1))


def test_residual_block_and_make_layer():
    block = ResidualBlock(8)
    x = torch.rand(2, 8, 5, 5)
    assert block(x).shape == x.shape
    small = ResidualBlock(8, init_scale=0.1)
    assert small.conv1.weight.std() < block.conv1.weight.std() * 0.5
    assert torch.count_nonzero(small.conv1.bias) == 0
    layer = make_layer(ResidualBlock, 3, num_feat=8)
    assert len(layer) == 3 and layer(x).shape == x.shape
    assert torch.equal(make_layer(ResidualBlock, 0, num_feat=8)(x), x)


def test_pixel_shuffle_upsampler_shapes_and_params():
    up = PixelShuffleUpsampler(16, scale=4)
    assert up(torch.rand(1, 16, 5, 7)).shape == (1, 16, 20, 28)
    assert sum(p.numel() for p in up.parameters()) == 2 * (16 * 64 * 9 + 64)
    assert PixelShuffleUpsampler(16, scale=2)(torch.rand(1, 16, 3, 3)).shape == (1, 16, 6, 6)
    with pytest.raises(ValueError, match="power of two"):
        PixelShuffleUpsampler(16, scale=3)


def test_upsample_image_modes():
    x = torch.rand(1, 3, 4, 5)
    assert upsample_image(x, 4, "bicubic").shape == (1, 3, 16, 20)
    assert torch.allclose(upsample_image(torch.ones(1, 3, 4, 5), 2, "bilinear"), torch.ones(1, 3, 8, 10))
