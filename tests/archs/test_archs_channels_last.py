"""``channels_last: true`` (the model option) converts every weight, so every conv output, offsets and masks
included, is channels_last: each method with a DCN gives the contiguous network's numbers and gradients."""
import copy

import pytest
import torch

from vsrkit.archs.msitf_arch import MSITF
from vsrkit.archs.mvvsr_arch import MVVSR
from vsrkit.archs.ptia_arch import PTIA
from vsrkit.archs.rcvsr_arch import RCVSR


def _cases():
    g = torch.Generator().manual_seed(1)
    return {
        "PTIA": (lambda: PTIA(mid_channels=16, num_blocks=1, num_recon_blocks=1), [(1, 3, 3, 16, 16)]),
        "RCVSR": (lambda: RCVSR(num_feat=8, upsampler_blocks=1, age_blocks=1), [(1, 7, 1, 8, 8), (1, 2, 1, 16, 16)]),
        "MSITF": (lambda: MSITF(num_feat=8, deformable_groups=2, num_extract_blocks=1, attn_heads=2, swin_depths=[2],
                                swin_heads=2, drop_path_rate=0.0), [(1, 2, 3, 16, 16)]),
        "MVVSR-SPyNet": (lambda: MVVSR(mid_channels=8, num_blocks=1, alignment="spynet"), [(1, 3, 3, 16, 16)]),
    }, g


@pytest.mark.parametrize("name", ["PTIA", "RCVSR", "MSITF", "MVVSR-SPyNet"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_channels_last_network_gives_the_same_numbers(name, dtype):
    cases, g = _cases()
    make, shapes = cases[name]
    torch.manual_seed(0)
    net = make().to(dtype)
    inputs = [torch.rand(*s, generator=g, dtype=dtype) for s in shapes]
    last = copy.deepcopy(net).to(memory_format=torch.channels_last)
    out, out_last = net(*inputs), last(*inputs)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(out_last, out, rtol=tol, atol=tol)
    out.square().mean().backward()
    out_last.square().mean().backward()
    for (key, p), q in zip(net.named_parameters(), last.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=tol, atol=tol, msg=lambda m: f"{name} {key}: {m}")
