"""Swin-V2 pieces (vsrkit/archs/swinv2.py): windows, shifted-window mask, buffers equal to the published ones, the
stored-mask path, stochastic depth."""
import importlib.util
from pathlib import Path

import pytest
import torch

from vsrkit.archs.swinv2 import (DropPath, SwinV2Block, SwinV2Trunk, WindowAttentionV2, relative_position_index,
                                 shifted_window_mask, window_partition, window_reverse)

_spec = importlib.util.spec_from_file_location("parity_fixture", Path(__file__).with_name("parity_fixture.py"))
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)


def test_window_partition_round_trip_and_order():
    x = torch.arange(2 * 8 * 12 * 3, dtype=torch.float32).view(2, 8, 12, 3)
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 2 * 3, 16, 3)
    assert torch.equal(windows[1].view(4, 4, 3), x[0, 0:4, 4:8])  # row-major over the window grid
    assert torch.equal(window_reverse(windows, 4, 8, 12), x)


def test_shifted_window_mask_separates_regions():
    mask = shifted_window_mask(8, 8, 4, 2)
    assert mask.shape == (4, 16, 16)
    assert torch.all(mask[0] == 0)  # the top-left window holds one region only
    last = mask[3]  # bottom-right window: 4 regions of 2x2 tokens each
    assert set(last.unique().tolist()) == {-100.0, 0.0}
    assert (last == 0).sum(dim=1).tolist() == [4] * 16


def test_relative_position_index_is_a_bijection_of_offsets():
    idx = relative_position_index(3)
    assert idx.shape == (9, 9) and idx.dtype == torch.int64
    assert idx.min() == 0 and idx.max() == 24 and torch.all(idx.diagonal() == 12)


def test_buffers_equal_the_published_stored_buffers():
    state = parity.load_fixture("msitf")["state_dict"]
    block = SwinV2Block(16, 4, 8, shift=4)
    prefix = "recon_trunk.layers.0.residual_group.blocks.1."
    assert torch.equal(block.attn.relative_coords_table, state[prefix + "attn.relative_coords_table"])
    assert torch.equal(block.attn.relative_position_index, state[prefix + "attn.relative_position_index"])
    assert torch.equal(block.attn_mask, state[prefix + "attn_mask"])


def test_stored_mask_and_computed_mask_give_the_same_block_output():
    torch.manual_seed(0)
    stored = SwinV2Block(8, 2, 4, shift=2, mask_size=8).eval()
    computed = SwinV2Block(8, 2, 4, shift=2, mask_size=16).eval()  # 8x8 maps: mask computed on the fly
    computed.load_state_dict({k: v for k, v in stored.state_dict().items() if k != "attn_mask"}, strict=False)
    assert computed.attn_mask.shape == (16, 16, 16) and stored.attn_mask.shape == (4, 16, 16)
    x = torch.rand(2, 8, 8, 8)
    with torch.no_grad():
        assert torch.allclose(stored(x), computed(x), atol=1e-6)


def test_attention_is_invariant_to_token_scale():
    torch.manual_seed(0)
    attn = WindowAttentionV2(8, 4, 2)
    x = torch.rand(3, 16, 8)
    # cosine attention: with q and v biases 0, scaling all tokens scales v only -> output proj(s * attn v)
    torch.nn.init.zeros_(attn.q_bias)
    torch.nn.init.zeros_(attn.v_bias)
    torch.nn.init.zeros_(attn.proj.bias)
    assert torch.allclose(attn(3 * x), 3 * attn(x), atol=1e-5)


def test_trunk_needs_window_multiples_and_keeps_shape():
    trunk = SwinV2Trunk(8, (2,), 2, 4, drop_path_rate=0.0).eval()
    with torch.no_grad():
        assert trunk(torch.rand(1, 8, 8, 12)).shape == (1, 8, 8, 12)
    with pytest.raises(ValueError, match="not a multiple of window_size=4"):
        trunk(torch.rand(1, 8, 8, 10))


def test_drop_path_is_identity_in_eval_and_unbiased_in_training():
    drop = DropPath(0.5)
    x = torch.ones(4000, 3)
    assert torch.equal(drop.eval()(x), x)
    y = drop.train()(x)
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert torch.all(y == y[:, :1])  # one decision per sample
    assert abs(y.mean().item() - 1.0) < 0.1
