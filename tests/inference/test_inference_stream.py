"""Streaming inference: windows over a stream match chunk_ranges, and iter_inference_frames equals iter_inference
while pulling only one chunk (plus context) of frames at a time."""
import pytest
import torch

from vsrkit.archs.mvvsr_arch import MVVSR
from vsrkit.errors import ConfigError
from vsrkit.inference import InferenceSettings, chunk_ranges, iter_inference, iter_inference_frames, iter_windows


@pytest.mark.parametrize("chunk", [None, 1, 3, 5, 40])
@pytest.mark.parametrize("overlap", [0, 2, 7])
def test_windows_of_a_stream_are_the_chunk_ranges(chunk, overlap):
    for t in range(1, 18):
        windows = list(iter_windows(iter(range(t)), chunk, overlap))
        assert [w[:4] for w in windows] == chunk_ranges(t, chunk, overlap)
        for run0, run1, _, _, items in windows:
            assert items == list(range(run0, run1))


def test_windows_reject_bad_settings_before_reading():
    def never():
        raise AssertionError("read")
        yield
    with pytest.raises(ConfigError, match="chunk_overlap"):
        next(iter_windows(never(), 2, -1))
    with pytest.raises(ConfigError, match="positive number"):
        next(iter_windows(never(), 0, 1))


def test_streamed_inference_equals_whole_clip_and_holds_one_chunk():
    torch.manual_seed(0)
    net = MVVSR(mid_channels=8, num_blocks=1, image_skip="bilinear").eval()
    torch.nn.init.normal_(net.conv_last.weight, std=0.1)  # the skip zero-inits it; let features reach the output
    t, h, w = 9, 20, 24
    lq = torch.randint(0, 256, (1, t, 3, h, w), dtype=torch.uint8)
    mv_bwd, mv_fwd = torch.randn(1, t, 2, h, w), torch.randn(1, t, 2, h, w)
    types = torch.tensor([[1, 2, 3, 2, 2, 3, 3, 2, 1]])
    settings = InferenceSettings(chunk=2, chunk_overlap=2, tile=12, tile_overlap=4)
    expected = list(iter_inference(net, lq, {"mv_bwd": mv_bwd, "mv_fwd": mv_fwd, "frame_types": types}, settings))

    pulled = []

    def frames():
        for i in range(t):
            pulled.append(i)
            yield {"lq": lq[0, i], "mv_bwd": mv_bwd[0, i], "mv_fwd": mv_fwd[0, i], "frame_types": int(types[0, i])}

    got = []
    for first, out in iter_inference_frames(net, frames(), settings):
        assert len(pulled) <= first + settings.chunk + settings.chunk_overlap  # never reads far ahead
        got.append((first, out))
    assert [g[0] for g in got] == [e[0] for e in expected] == [0, 2, 4, 6, 8]
    for (_, a), (_, b) in zip(got, expected):
        assert torch.equal(a, b)
    # the motion inputs really reach the network
    still = [{"lq": lq[0, i], "mv_bwd": torch.zeros(2, h, w), "mv_fwd": torch.zeros(2, h, w), "frame_types": 2}
             for i in range(t)]
    moved = torch.cat([o for _, o in iter_inference_frames(net, still, settings)], dim=1)
    assert not torch.allclose(moved, torch.cat([o for _, o in got], dim=1))
