"""Tiled / chunked inference: tile placement, weights, bookkeeping exactness, and tiled ~ untiled for MV-VSR.

Tolerance. A recurrent network's output at a pixel depends on everything its state has seen, so cutting a frame into
tiles changes it near tile borders: outside a tile the warp reads padding instead of the neighbouring content, and the
error travels inward by the motion (here 2 px/frame) every frame and by the receptive field of the trunk. Two checks
follow from that:
* a network whose receptive field (< 8 LR px for one frame, no recurrence) is smaller than the distance between a kept
  pixel and its tile border (overlap/2 for crop, overlap/4 for blend) must give the untiled result to float rounding
  (1e-5): this proves the bookkeeping (slicing of motion inputs, weights, placement) exact;
* MV-VSR (random init, mid 8, 2 blocks) on a 4-frame clip moving 2 px/frame: measured max |diff| 0.64/255 blend,
  0.99/255 crop (actual overlap 12 px), 0.44/255 and 0.75/255 (overlap 16); mean 0.02/255 and 0.005/255; PSNR of
  tiled vs untiled 73-83 dB. Asserted: max below 2/255 (at most one uint8 level after rounding), PSNR > 65 dB, and
  a smaller mean error with the larger overlap. (A 60-iteration-trained demo-size net on a 100x100, 8-frame clip
  measured max 8.5/255 at overlap 4 down to 2.5/255 at overlap 28, mean 0.10/255 -> 0.01/255: use overlap >=
  motion per frame x frames of useful propagation for uint8-identical output.)
Temporal chunks: exact when the context covers the clip; otherwise the error shrinks with more context.
"""
import pytest
import torch
import torch.nn.functional as F

from vsrkit.archs.mvvsr_arch import MVVSR
from vsrkit.errors import ConfigError
from vsrkit.inference import (InferenceSettings, axis_weights, chunk_ranges, count_runs, iter_inference,
                              run_inference, tile_starts, to_uint8_frames)


def _clip(t=4, size=48, seed=0):
    """A smooth random scene moving +2 px (x) and +1 px (y) per frame, with its exact motion fields."""
    g = torch.Generator().manual_seed(seed)
    pad = 2 * t
    base = F.interpolate(torch.rand(1, 3, size // 4 + 4, size // 4 + 4, generator=g), size=(size + pad, size + pad),
                         mode="bicubic", align_corners=False).clamp(0, 1)
    lq = torch.stack([base[..., pad - k:pad - k + size, pad - 2 * k:pad - 2 * k + size] for k in range(t)], dim=1)
    mv_bwd = torch.zeros(1, t, 2, size, size)
    mv_bwd[:, 1:, 0], mv_bwd[:, 1:, 1] = -2.0, -1.0
    mv_fwd = torch.zeros(1, t, 2, size, size)
    mv_fwd[:, :-1, 0], mv_fwd[:, :-1, 1] = 2.0, 1.0
    types = torch.tensor([[1] + [2] * (t - 1)])
    return lq, {"mv_bwd": mv_bwd, "mv_fwd": mv_fwd, "frame_types": types}


def _psnr(a, b):
    return (10 * torch.log10(1.0 / (a - b).square().mean())).item()


@pytest.mark.parametrize("size,tile,overlap", [(100, 36, 4), (100, 40, 8), (48, 24, 8), (48, 48, 8), (30, 64, 8),
                                               (97, 31, 7)])
def test_tile_starts_cover_with_at_least_the_overlap(size, tile, overlap):
    starts = tile_starts(size, tile, overlap)
    t = min(tile, size)
    assert starts[0] == 0 and starts[-1] + t == size
    for a, b in zip(starts, starts[1:]):
        assert a + t - b >= overlap and b > a


def test_bad_tiling_options():
    with pytest.raises(ConfigError, match="smaller than the tile"):
        tile_starts(100, 16, 16)
    with pytest.raises(ConfigError, match="tile_mode"):
        axis_weights([0, 10], 20, 30, 4, "feather")
    with pytest.raises(ConfigError, match="chunk"):
        chunk_ranges(10, 0, 2)


@pytest.mark.parametrize("mode", ["blend", "crop"])
def test_axis_weights_sum_to_one_and_keep_away_from_tile_borders(mode):
    size, tile, ov, scale = 97, 31, 7, 4
    starts = tile_starts(size, tile, ov)
    weights = axis_weights(starts, tile, size, scale, mode)
    total = torch.zeros(size * scale)
    for s, w in zip(starts, weights):
        total[s * scale:(s + tile) * scale] += w
        inner = torch.nonzero(w > 0).flatten()
        margin = ov * scale // (2 if mode == "crop" else 4)
        if s > 0:
            assert inner.min().item() >= margin - 1
        if s + tile < size:
            assert inner.max().item() <= tile * scale - margin
        if mode == "crop":
            assert set(w.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


def test_chunk_ranges_partition_with_context():
    ranges = chunk_ranges(10, 4, 2)
    assert ranges == [(0, 6, 0, 4), (2, 10, 4, 8), (6, 10, 8, 10)]
    assert chunk_ranges(10, None, 2) == [(0, 10, 0, 10)] == chunk_ranges(10, 20, 2)


@pytest.mark.parametrize("mode", ["blend", "crop"])
def test_local_network_tiled_equals_untiled_exactly(mode):
    # One frame, no recurrence: receptive field < 8 LR px, tiles kept >= 8 px (crop, overlap 16) or >= 8 px
    # (blend, overlap 32) from their borders.
    torch.manual_seed(0)
    net = MVVSR(mid_channels=8, num_blocks=1, alignment="none").eval()
    lq = torch.rand(1, 1, 3, 96, 80)
    ref = run_inference(net, lq)
    overlap = 16 if mode == "crop" else 32
    out = run_inference(net, lq, settings=InferenceSettings(tile=48 if mode == "crop" else 64,
                                                            tile_overlap=overlap, tile_mode=mode))
    assert out.shape == ref.shape == (1, 1, 3, 384, 320)
    assert (out - ref).abs().max().item() < 1e-5


def test_mvvsr_tiled_close_to_untiled_and_better_with_more_overlap():
    torch.manual_seed(0)
    net = MVVSR(mid_channels=8, num_blocks=2, image_skip="bilinear").eval()
    torch.nn.init.normal_(net.conv_last.weight, std=0.1)  # the skip zero-inits it; let features reach the output
    lq, inputs = _clip()
    ref = run_inference(net, lq, inputs)
    errors = []
    for tile, overlap in [(24, 8), (32, 16)]:   # actual overlaps 12 and 16 px
        for mode in ("blend", "crop"):
            out = run_inference(net, lq, inputs, InferenceSettings(tile=tile, tile_overlap=overlap, tile_mode=mode))
            diff = (out - ref).abs()
            assert diff.max().item() < 2 / 255, (tile, mode, diff.max().item() * 255)
            assert _psnr(out, ref) > 65.0
            errors.append(diff.mean().item())
    assert errors[2] < errors[0] and errors[3] < errors[1]
    # The motion inputs are really sliced per tile: dropping them changes the tiled result.
    no_motion = run_inference(net, lq, {k: torch.zeros_like(v) if k != "frame_types" else v
                                        for k, v in inputs.items()}, InferenceSettings(tile=24, tile_overlap=8))
    assert (no_motion - ref).abs().mean().item() > 10 * errors[0]


def test_chunked_inference_exact_with_full_context_and_improving_with_more():
    torch.manual_seed(0)
    net = MVVSR(mid_channels=8, num_blocks=1, image_skip="bilinear").eval()
    torch.nn.init.normal_(net.conv_last.weight, std=0.1)  # the skip zero-inits it; let features reach the output
    lq, inputs = _clip(t=6, size=16)
    ref = run_inference(net, lq, inputs)
    full = run_inference(net, lq, inputs, InferenceSettings(chunk=2, chunk_overlap=6))
    assert torch.allclose(full, ref, atol=1e-6)
    e1 = (run_inference(net, lq, inputs, InferenceSettings(chunk=2, chunk_overlap=1)) - ref).abs().mean()
    e3 = (run_inference(net, lq, inputs, InferenceSettings(chunk=2, chunk_overlap=3)) - ref).abs().mean()
    assert 0 < e3 < e1


def test_iter_inference_yields_chunks_in_order_and_counts_runs():
    net = MVVSR(mid_channels=4, num_blocks=1, alignment="none").eval()
    lq = torch.rand(1, 5, 3, 20, 20)
    settings = InferenceSettings(chunk=2, chunk_overlap=1, tile=12, tile_overlap=4)

    class Counter:
        n = 0

        def update(self, k):
            self.n += k

    counter = Counter()
    parts = list(iter_inference(net, lq, settings=settings, progress=counter))
    assert [p[0] for p in parts] == [0, 2, 4] and [p[1].shape[1] for p in parts] == [2, 2, 1]
    assert counter.n == count_runs(5, 20, 20, settings) == 3 * 2 * 2
    frames = to_uint8_frames(parts[0][1][0])
    assert frames.shape == (2, 80, 80, 3) and frames.dtype == torch.uint8


def test_wrong_scale_is_reported():
    net = MVVSR(mid_channels=4, num_blocks=1, alignment="none", scale=2).eval()
    with pytest.raises(ConfigError, match="scale"):
        run_inference(net, torch.rand(1, 2, 3, 8, 8), settings=InferenceSettings(scale=4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tiled_matches_cpu():
    torch.manual_seed(0)
    net = MVVSR(mid_channels=8, num_blocks=1, image_skip="bilinear").eval()
    torch.nn.init.normal_(net.conv_last.weight, std=0.1)  # the skip zero-inits it; let features reach the output
    lq, inputs = _clip(t=3, size=32)
    settings = InferenceSettings(tile=16, tile_overlap=8)
    cpu = run_inference(net, lq, inputs, settings)
    gpu = run_inference(net.cuda(), lq, inputs, settings, device="cuda")
    assert (cpu - gpu).abs().max().item() < 1e-3


def test_uint8_input_equals_float_input():
    net = MVVSR(mid_channels=4, num_blocks=1, alignment="none").eval()
    frames = torch.randint(0, 256, (1, 3, 3, 12, 12), dtype=torch.uint8)
    settings = InferenceSettings(tile=8, tile_overlap=2)
    assert torch.allclose(run_inference(net, frames, settings=settings),
                          run_inference(net, frames.float() / 255.0, settings=settings), atol=1e-6)
