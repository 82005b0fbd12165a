"""ChunkConditionedSR: the plain backbone at initialisation, per-chunk modulation after the head, and whole frames cut
into the chunk grid with each patch run alone (as STDO's stitching)."""
import pytest
import torch

from vsrkit.archs.chunk_conditioned_arch import ChunkConditionedSR
from vsrkit.errors import ConfigError

BACKBONE = {"type": "WDSR", "scale": 2, "num_blocks": 1, "num_residual_units": 4, "width_multiplier": 2}


def test_starts_as_the_backbone_and_conditions_per_chunk():
    net = ChunkConditionedSR(BACKBONE, num_chunks=2).eval()
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(net(x, torch.tensor([0, 1, 0])), net.backbone(x))
        net.gamma[1].fill_(0.5)
        out = net(x, torch.tensor([0, 1, 0]))
        assert torch.equal(out[[0, 2]], net.backbone(x[[0, 2]]))
        assert not torch.allclose(out[1], net.backbone(x[1:2])[0])
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in net.backbone.parameters()) + 16


def test_frames_are_cut_into_the_chunk_grid():
    torch.manual_seed(0)
    net = ChunkConditionedSR(BACKBONE, num_chunks=2).eval()
    with torch.no_grad():
        net.beta.normal_()
        lq = torch.rand(1, 1, 3, 8, 16)
        grid = torch.tensor([[[0, 1], [1, 0]]])
        out = net(lq, grid)
        assert out.shape == (1, 1, 3, 16, 32)
        for r in range(2):
            for c in range(2):
                want = net(lq[:, 0, :, 4 * r:4 * r + 4, 8 * c:8 * c + 8], grid[0, r, c].view(1))
                assert torch.allclose(out[0, 0, :, 8 * r:8 * r + 8, 16 * c:16 * c + 16], want[0], atol=1e-6)
    with pytest.raises(ConfigError, match="outside 0..1"):
        net(torch.rand(1, 3, 8, 8), torch.tensor([2]))
    with pytest.raises(ConfigError, match="no module 'tail0'"):
        ChunkConditionedSR(BACKBONE, layer="tail0")
