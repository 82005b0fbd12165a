"""DCNPack: shapes, zero-initialised head, offset bound, flow-guided offsets (CPU, torchvision backend)."""
import pytest
import torch
import torch.nn.functional as F

from vsrkit.ops.dcn import DCNPack


def flow_warp(x, flow):
    """Backward warp, bilinear, zeros outside, align_corners=True; flow (n, 2, h, w) in pixels, channel 0 = x."""
    n, _, h, w = x.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    px, py = gx + flow[:, 0], gy + flow[:, 1]
    grid = torch.stack((2 * px / (w - 1) - 1, 2 * py / (h - 1) - 1), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def test_shapes_and_head_layers():
    pack = DCNPack(8, 12, 3, deformable_groups=4, cond_channels=5, head_layers=2, head_channels=16)
    x, cond = torch.rand(2, 8, 10, 9), torch.rand(2, 5, 10, 9)
    assert pack(x, cond).shape == (2, 12, 10, 9)
    offset, mask = pack.offset_and_mask(cond)
    assert offset.shape == (2, 4 * 2 * 9, 10, 9) and mask.shape == (2, 4 * 9, 10, 9)
    assert len(pack.offset_head) == 5  # (conv, lrelu) x 2 + final conv
    strided = DCNPack(8, 12, 3, stride=2, deformable_groups=2)
    assert strided(x, torch.rand(2, 8, 5, 5)).shape == (2, 12, 5, 5)


def test_zero_init_is_half_conv_plus_bias():
    """Zero head -> offsets 0, masks sigmoid(0) = 0.5 -> out = 0.5 * conv2d(x, W) + b (the bias is not halved)."""
    torch.manual_seed(0)
    pack = DCNPack(6, 4, 3, deformable_groups=2, head_layers=1).double()
    x, cond = torch.rand(1, 6, 8, 8, dtype=torch.float64), torch.rand(1, 6, 8, 8, dtype=torch.float64)
    offset, mask = pack.offset_and_mask(cond)
    assert torch.count_nonzero(offset) == 0 and torch.all(mask == 0.5)
    expected = 0.5 * F.conv2d(x, pack.weight, None, 1, 1) + pack.bias.view(1, -1, 1, 1)
    assert torch.allclose(pack(x, cond), expected, atol=1e-12)
    assert not torch.allclose(pack(x, cond), 0.5 * F.conv2d(x, pack.weight, pack.bias, 1, 1), atol=1e-3)


def test_not_zero_init_gives_nonzero_offsets():
    torch.manual_seed(0)
    pack = DCNPack(4, 4, 3, deformable_groups=1, zero_init_offset=False)
    offset, _ = pack.offset_and_mask(torch.rand(1, 4, 6, 6))
    assert offset.abs().max() > 0


def test_offset_bound_tanh():
    torch.manual_seed(0)
    bounded = DCNPack(4, 4, 3, deformable_groups=2, max_magnitude=10.0, zero_init_offset=False)
    free = DCNPack(4, 4, 3, deformable_groups=2, zero_init_offset=False)
    free.load_state_dict(bounded.state_dict())
    for pack in (bounded, free):
        torch.nn.init.constant_(pack.offset_head[-1].weight, 3.0)
    cond = torch.rand(1, 4, 6, 6) + 1.0
    off_b, _ = bounded.offset_and_mask(cond)
    off_f, _ = free.offset_and_mask(cond)
    assert off_f.abs().max() > 20  # raw head output is large
    assert off_b.abs().max() <= 10.0
    assert torch.allclose(off_b, 10.0 * torch.tanh(off_f))
    with pytest.raises(ValueError, match="max_magnitude"):
        DCNPack(4, 4, 3, deformable_groups=1, max_magnitude=0)


def test_flow_guided_zero_residual_equals_flow_warp():
    """Zero residual: every sampling point of a 1x1 DCN reads x at (y + flow_y, x + flow_x), i.e. a backward warp."""
    torch.manual_seed(0)
    pack = DCNPack(3, 3, 1, deformable_groups=3, max_magnitude=10.0, flow_guided=True).double()
    with torch.no_grad():
        pack.weight.copy_(torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1))
        pack.bias.zero_()
    x = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    flow = (torch.rand(2, 2, 9, 11, dtype=torch.float64) - 0.5) * 6
    flow[:, 0] += 0.7  # mostly rightwards so that the x/y order matters
    cond = torch.rand(2, 3, 9, 11, dtype=torch.float64)
    offset, mask = pack.offset_and_mask(cond, flow)
    assert torch.equal(offset[:, 0::2], flow[:, 1:2].expand(-1, 3, -1, -1))  # dy per sampling point
    assert torch.equal(offset[:, 1::2], flow[:, 0:1].expand(-1, 3, -1, -1))  # dx
    out = pack(x, cond, flow)
    assert torch.allclose(out, 0.5 * flow_warp(x, flow), atol=1e-10)
    assert not torch.allclose(out, 0.5 * flow_warp(x, flow.flip(1)), atol=1e-3)


def test_flow_guided_3x3_centre_tap():
    """3x3 kernel with only the centre tap set: still 0.5 * warp(x, flow) (the other points are weighted 0)."""
    torch.manual_seed(1)
    pack = DCNPack(2, 2, 3, deformable_groups=1, flow_guided=True).double()
    with torch.no_grad():
        pack.weight.zero_()
        pack.weight[:, :, 1, 1] = torch.eye(2, dtype=torch.float64)
        pack.bias.zero_()
    x = torch.rand(1, 2, 8, 8, dtype=torch.float64)
    flow = (torch.rand(1, 2, 8, 8, dtype=torch.float64) - 0.5) * 4
    assert torch.allclose(pack(x, x, flow), 0.5 * flow_warp(x, flow), atol=1e-10)


def test_flow_guided_needs_flow_of_right_shape():
    pack = DCNPack(2, 2, 3, deformable_groups=1, flow_guided=True)
    x = torch.rand(1, 2, 6, 6)
    with pytest.raises(ValueError, match="needs flow"):
        pack(x, x)
    with pytest.raises(ValueError, match="flow must be"):
        pack(x, x, torch.zeros(1, 2, 5, 6))
