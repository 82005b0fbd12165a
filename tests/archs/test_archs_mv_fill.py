"""Hole filling of codec motion fields (vsrkit.archs.mv_fill) and its use in MVVSR (mv_fill, mv_valid_input)."""
import numpy as np
import pytest
import torch

from vsrkit.archs.mv_fill import (box_sum, fill_motion, fill_opposite, fill_spatial, fill_temporal,
                                  validity_from_zeros)
from vsrkit.archs.mvvsr_arch import MVVSR
from vsrkit.data.demo_truth import true_flow
from vsrkit.errors import ConfigError


def field(t, h, w, vx, vy):
    """(1, t, 2, h, w) constant field."""
    f = torch.zeros(1, t, 2, h, w, dtype=torch.float64)
    f[:, :, 0], f[:, :, 1] = vx, vy
    return f


def test_opposite_fills_only_one_sided_holes():
    b, f = field(2, 4, 4, 1.0, 2.0), field(2, 4, 4, -3.0, 0.5)
    vb = torch.ones(1, 2, 4, 4, dtype=torch.bool)
    vf = torch.ones(1, 2, 4, 4, dtype=torch.bool)
    vb[0, 0, :2] = False            # backward hole, forward valid -> -fwd
    vf[0, 1, :, :1] = False         # forward hole, backward valid -> -bwd
    vb[0, 1, 3, 0] = False          # both missing at (3, 0) of frame 1 -> stays 0 and invalid
    b[0, 0, :, :2] = 0
    f[0, 1, :, :, :1] = 0
    b[0, 1, :, 3, 0] = 0
    nb, nf, nvb, nvf = fill_opposite(b, f, vb, vf)
    assert torch.equal(nb[0, 0, :, :2], torch.tensor([3.0, -0.5], dtype=torch.float64)[:, None, None].expand(2, 2, 4))
    assert torch.equal(nf[0, 1, :, :3, 0], torch.tensor([-1.0, -2.0], dtype=torch.float64)[:, None].expand(2, 3))
    assert torch.equal(nb[0, 1, :, 3, 0], torch.zeros(2, dtype=torch.float64))
    assert torch.equal(nf[0, 1, :, 3, 0], torch.zeros(2, dtype=torch.float64))
    assert not nvb[0, 1, 3, 0] and not nvf[0, 1, 3, 0] and int((~nvb).sum()) == 1 and int((~nvf).sum()) == 1
    # valid pixels are untouched
    assert torch.equal(nb[0, 1, :, :3], b[0, 1, :, :3]) and torch.equal(nf[0, 0], f[0, 0])


def test_temporal_inverts_the_neighbour_field_along_the_motion():
    t, h, w = 3, 6, 8
    # frame i sees the scene shifted: every pixel of frame i is at x-2 in frame i-1 (bwd = (-2, 0)), fwd = (+2, 0)
    b, f = field(t, h, w, -2.0, 0.0), field(t, h, w, 2.0, 0.0)
    vb = torch.ones(1, t, h, w, dtype=torch.bool)
    vf = torch.ones(1, t, h, w, dtype=torch.bool)
    b[0, 2] = 0
    vb[0, 2] = False                # frame 2 has no backward field: take -fwd[1] at p + bwd[2](p)
    f[0, 0, :, :, 5:] = 0
    vf[0, 0, :, 5:] = False         # frame 0 right part: take -bwd[1] at p + fwd[0](p) (in the frame only)
    nb, nf, nvb, nvf = fill_temporal(b, f, vb, vf)
    assert torch.equal(nb[0, 2, :, :, 2:], field(1, h, w - 2, -2.0, 0.0)[0, 0])   # x - 2 inside the frame
    assert bool(nvb[0, 2, :, 2:].all())
    # first step samples fwd[1] at p (est 0): valid everywhere, so the estimate is -2 at every pixel; the second
    # step samples at p - 2: outside the frame for x < 2 -> not ok there, the value reverts to the hole's 0
    assert not bool(nvb[0, 2, :, :2].any()) and torch.equal(nb[0, 2, :, :, :2], torch.zeros(2, h, 2, dtype=torch.float64))
    # frame 0, x >= 5: -bwd[1] sampled at x + 2 (inside for x <= 5): +2; x = 6, 7 leave the frame
    assert torch.equal(nf[0, 0, 0, :, 5], torch.full((h,), 2.0, dtype=torch.float64))
    assert bool(nvf[0, 0, :, 5].all()) and not bool(nvf[0, 0, :, 6:].any())
    # frame 0's bwd and the last frame's fwd have no neighbour: unchanged
    assert torch.equal(nb[0, 0], b[0, 0]) and torch.equal(nf[0, 2], f[0, 2])


def test_temporal_samples_valid_vectors_only():
    t, h, w = 2, 4, 4
    b, f = field(t, h, w, 0.0, 0.0), field(t, h, w, 0.0, 0.0)
    vb = torch.zeros(1, t, h, w, dtype=torch.bool)
    vf = torch.zeros(1, t, h, w, dtype=torch.bool)
    f[0, 0, 0, :, :2] = 1.0          # fwd[0] valid (value +1 in x) on the left half only
    vf[0, 0, :, :2] = True
    nb, _, nvb, _ = fill_temporal(b, f, vb, vf)
    # bwd[1](p) = -fwd[0](p + est): left half -> -1 (first step at p; second step at p - 1: still valid for x = 1,
    # for x = 0 it falls outside -> not ok); right half: fwd[0] invalid there -> stays a hole
    assert torch.equal(nb[0, 1, 0, :, 1], torch.full((h,), -1.0, dtype=torch.float64))
    assert bool(nvb[0, 1, :, 1].all()) and not bool(nvb[0, 1, :, 2:].any()) and not bool(nvb[0, 1, :, 0].any())


def test_box_sum_and_spatial_fill_exact():
    x = torch.arange(20, dtype=torch.float64).view(1, 1, 4, 5)
    ref = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1)), torch.ones(1, 1, 3, 3,
                                                                                           dtype=torch.float64))
    assert torch.allclose(box_sum(x, 1), ref)
    t, h, w = 1, 5, 5
    b, f = field(t, h, w, 0.0, 0.0), field(t, h, w, 0.0, 0.0)
    vb = torch.zeros(1, t, h, w, dtype=torch.bool)
    vf = torch.zeros(1, t, h, w, dtype=torch.bool)
    b[0, 0, :, 0, 0] = torch.tensor([4.0, 1.0])
    b[0, 0, :, 0, 1] = torch.tensor([2.0, 3.0])
    vb[0, 0, 0, :2] = True
    nb, nf, nvb, nvf = fill_spatial(b, f, vb, vf)
    # (1, 0), (1, 1), (1, 2), (0, 2): both valid pixels (or only (0,1)) in the 3x3 window
    assert torch.equal(nb[0, 0, :, 1, 0], torch.tensor([3.0, 2.0], dtype=torch.float64))
    assert torch.equal(nb[0, 0, :, 0, 2], torch.tensor([2.0, 3.0], dtype=torch.float64))
    assert torch.equal(nb[0, 0, :, 1, 2], torch.tensor([2.0, 3.0], dtype=torch.float64))
    # (3, 3): nothing within r=1; r=3 (|dy|, |dx| <= 3) reaches both; (4, 4): rows 1..4 at r=3, both at r=7
    assert torch.equal(nb[0, 0, :, 3, 3], torch.tensor([3.0, 2.0], dtype=torch.float64))
    assert torch.equal(nb[0, 0, :, 4, 4], torch.tensor([3.0, 2.0], dtype=torch.float64))
    assert torch.equal(nb[0, 0, :, 3, 0], torch.tensor([3.0, 2.0], dtype=torch.float64))
    assert bool(nvb.all())
    # a direction without any valid vector stays 0 and invalid
    assert torch.equal(nf, f) and not bool(nvf.any())


def test_fill_chain_and_validity_from_zeros():
    b, f = field(2, 4, 4, 0.0, 0.0), field(2, 4, 4, 1.0, 1.0)
    vb = validity_from_zeros(b)
    vf = validity_from_zeros(f)
    assert not bool(vb.any()) and bool(vf.all())
    nb, nf, nvb, nvf = fill_motion(b, f, vb, vf, ["opposite", "spatial"])
    assert torch.equal(nb, field(2, 4, 4, -1.0, -1.0)) and bool(nvb.all())


def test_true_flow_of_a_pure_pan():
    # pan by (+8, -4) HR px per frame, no zoom or rotation: content moves by (-8, +4) HR = (-2, +1) LR px
    centres = np.array([[100.0, 100.0], [108.0, 96.0], [116.0, 92.0]])
    bwd, fwd = true_flow(centres, np.ones(3), np.zeros(3), (32, 48), 4)
    assert bwd.shape == (3, 2, 8, 12)
    assert np.allclose(bwd[1:, 0], 2.0) and np.allclose(bwd[1:, 1], -1.0) and np.all(bwd[0] == 0)
    assert np.allclose(fwd[:2, 0], -2.0) and np.allclose(fwd[:2, 1], 1.0) and np.all(fwd[2] == 0)


def _inputs(t=4, h=8, w=8):
    g = torch.Generator().manual_seed(0)
    lq = torch.rand(1, t, 3, h, w, generator=g)
    b, f = field(t, h, w, 1.0, 0.0).float(), field(t, h, w, -1.0, 0.0).float()
    vb = torch.ones(1, t, h, w, dtype=torch.bool)
    vf = torch.ones(1, t, h, w, dtype=torch.bool)
    f[0, 1, :, :, :4] = 0
    vf[0, 1, :, :4] = False
    return lq, b, f, vb, vf, torch.full((1, t), 3)


def test_mvvsr_fills_holes_before_the_refiner():
    lq, b, f, vb, vf, types = _inputs()
    net = MVVSR(mid_channels=8, num_blocks=1, mv_fill=["opposite"])
    ref = MVVSR(mid_channels=8, num_blocks=1)
    ref.load_state_dict(net.state_dict())
    fb, ff = net.compute_flows(lq, b, f, types, vb, vf)
    assert torch.equal(ff[0, 1], field(1, 8, 8, -1.0, 0.0)[0, 0].float())   # zero-initialised refiner: flow = mv
    rb, rf = ref.compute_flows(lq, b, f, types, vb, vf)
    assert torch.equal(rf[0, 1, :, :, :4], torch.zeros(2, 8, 4))             # default: the hole stays 0
    out = net(lq, b, f, types, vb, vf)
    assert out.shape == (1, 4, 3, 32, 32)
    assert not torch.equal(out, ref(lq, b, f, types, vb, vf))
    assert torch.equal(ref(lq, b, f, types), ref(lq, b, f, types, vb, vf))   # default ignores the masks


def test_mvvsr_valid_input_channel_and_options():
    lq, b, f, vb, vf, types = _inputs()
    net = MVVSR(mid_channels=8, num_blocks=1, mv_fill="temporal,opposite,spatial", mv_valid_input=True)
    assert net.mv_fill == ["temporal", "opposite", "spatial"]
    assert net.mv_refiner.net[0].in_channels == 3
    assert net(lq, b, f, types, vb, vf).shape == (1, 4, 3, 32, 32)
    assert MVVSR(mid_channels=8, num_blocks=1, mv_valid_input=True, ablate_mvs=True)(lq, b, f, types).shape[1] == 4
    with pytest.raises(ConfigError, match="mv_fill"):
        MVVSR(mid_channels=8, num_blocks=1, mv_fill=["nearest"])
    with pytest.raises(ConfigError, match="alignment: mv"):
        MVVSR(mid_channels=8, num_blocks=1, alignment="none", mv_fill=["opposite"])
    with pytest.raises(ConfigError, match="faithful"):
        MVVSR(faithful=True, mv_valid_input=True)
    with pytest.raises(ValueError, match="valid_fwd"):
        net(lq, b, f, types, vb, vf[:, :, :4])


def test_inference_cuts_per_pixel_masks_like_the_clip():
    from vsrkit.inference.runner import _slice

    masks = torch.arange(2 * 5 * 6 * 8).view(2, 5, 6, 8) % 3 == 0          # (n, t, h, w)
    cut = _slice(masks, "valid_bwd", 1, 4, slice(2, 6), slice(0, 4), (6, 8), 4, 5)
    assert torch.equal(cut, masks[:, 1:4, 2:6, 0:4])
    types = torch.ones(2, 5)
    assert torch.equal(_slice(types, "frame_types", 1, 4, slice(0, 6), slice(0, 8), (6, 8), 4, 5), types[:, 1:4])
