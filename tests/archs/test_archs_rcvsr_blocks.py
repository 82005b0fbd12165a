"""RCVSR's building blocks: SK fusion, channel LayerNorm, transposed cross attention, gated FFN, DSTA, DBRB,
residual upsample and the STDF/FEnet U-Net."""
import pytest
import torch
import torch.nn.functional as F

from vsrkit.archs.rcvsr_arch import OffsetUNet
from vsrkit.archs.rcvsr_blocks import DSTA, DualBranchResidualBlock, ResidualUpsample
from vsrkit.archs.restormer_blocks import CrossTransformerBlock, GatedFeedForward, LayerNorm2d, TransposedCrossAttention
from vsrkit.archs.skff import SelectiveKernelFusion


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: see test_archs_rcvsr.py
    yield
    torch.set_num_threads(threads)


def test_sk_fusion_is_a_convex_combination_of_the_branches():
    sk = SelectiveKernelFusion(8, 3)
    assert sk.squeeze[0].out_channels == 4  # max(8 / 8, 4)
    assert SelectiveKernelFusion(48, 2).squeeze[0].out_channels == 6
    x = torch.randn(2, 8, 5, 5)
    assert torch.allclose(sk(torch.cat([x, x, x], dim=1)), x, atol=1e-6)  # equal branches: weights sum to 1
    a, b, c = torch.rand(3, 2, 8, 5, 5).unbind(0)
    out = sk(torch.cat([a, b, c], dim=1))
    lo, hi = torch.minimum(torch.minimum(a, b), c), torch.maximum(torch.maximum(a, b), c)
    assert (out >= lo - 1e-6).all() and (out <= hi + 1e-6).all()
    with pytest.raises(ValueError, match="expected 3 x 8 channels, got 16"):
        sk(torch.cat([a, b], dim=1))


def test_layernorm2d_with_and_without_bias():
    x = torch.randn(2, 6, 4, 3, dtype=torch.float64)
    ln = LayerNorm2d(6).double()
    torch.nn.init.normal_(ln.weight)
    torch.nn.init.normal_(ln.bias)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, eps=1e-5).permute(0, 3, 1, 2)
    assert torch.allclose(ln(x), ref, atol=1e-12)
    free = LayerNorm2d(6, bias=False).double()
    assert free.bias is None
    var = x.var(dim=1, keepdim=True, unbiased=False)
    assert torch.allclose(free(x), x / torch.sqrt(var + 1e-5), atol=1e-12)  # the mean is not subtracted


def test_transposed_cross_attention_one_channel_per_head_is_projected_value():
    attn = TransposedCrossAttention(8, num_heads=8)
    x, y = torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6)
    assert torch.allclose(attn(x, y), attn.proj_out(attn.dw_kv(attn.proj(y))), atol=1e-6)
    two = TransposedCrossAttention(8, num_heads=4)
    out = two(x, y)
    # per head: softmax(T * q_hat k_hat^T) v with k == v
    q = F.normalize(two.dw_q(two.proj(x)).view(2, 4, 2, 36), dim=-1)
    v = two.dw_kv(two.proj(y)).view(2, 4, 2, 36)
    expected = ((q @ F.normalize(v, dim=-1).transpose(-2, -1)).softmax(-1) @ v).view(2, 8, 6, 6)
    assert torch.allclose(out, two.proj_out(expected), atol=1e-6)
    with pytest.raises(ValueError, match="not divisible"):
        TransposedCrossAttention(8, 3)


def test_gated_ffn_and_cross_block_shapes():
    ffn = GatedFeedForward(8, 2.0)
    assert ffn.project_in.out_channels == 32 and ffn.project_out.in_channels == 16
    x = torch.randn(1, 8, 5, 7)
    a, b = ffn.dwconv(ffn.project_in(x)).chunk(2, dim=1)
    assert torch.allclose(ffn(x), ffn.project_out(F.elu(a) * b))
    block = CrossTransformerBlock(8, 4)
    assert block(x, torch.randn_like(x)).shape == x.shape


def test_dsta_gates_the_input_and_needs_15_pixels():
    dsta = DSTA(16)
    x = torch.rand(2, 16, 15, 20) + 0.1
    out = dsta(x)
    assert out.shape == x.shape
    assert (out.abs() <= x.abs()).all()  # x * sigmoid * sigmoid: an attenuation
    assert dsta.dcn.deformable_groups == 4 and dsta.offset_mask.out_channels == 4 * 27
    with pytest.raises(ValueError, match="needs at least 15x15"):
        dsta(torch.rand(1, 16, 14, 20))


def test_dbrb_streams_exchange_residuals():
    block = DualBranchResidualBlock(8)
    x, y = torch.randn(1, 8, 16, 16), torch.randn(1, 8, 16, 16)
    ox, oy = block(x, y)
    rx, ry = block.branch_x(x), block.branch_y(y)
    assert torch.allclose(ox, block.act(rx + x + ry)) and torch.allclose(oy, block.act(rx + y + ry))


def test_residual_upsample_and_unet_shapes():
    up = ResidualUpsample(16)
    assert up(torch.randn(1, 16, 5, 6)).shape == (1, 8, 10, 12)
    unet = OffsetUNet(7, 8, levels=3)
    assert len(unet.down) == 2 and len(unet.up) == 2
    assert unet(torch.randn(1, 7, 16, 24)).shape == (1, 8, 16, 24)
    assert OffsetUNet(2, 8, levels=1)(torch.randn(1, 2, 6, 4)).shape == (1, 8, 6, 4)
