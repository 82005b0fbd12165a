"""RCVSR: published parameter count, official-checkpoint converter, parity with the published code
(``../shared/fixtures/rcvsr``, through the converter), and
the behaviour of the network's inputs, options and published quirks."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vsrkit.archs.rcvsr_arch import RCVSR
from vsrkit.archs.rcvsr_convert import arch_kwargs, official_to_vsrkit_key
from vsrkit.builders import build_network
from vsrkit.errors import ConfigError
from vsrkit.registry import ARCHS, CONVERTERS

_spec = importlib.util.spec_from_file_location("parity_fixture", Path(__file__).with_name("parity_fixture.py"))
parity = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(parity)

PUBLISHED_PARAMS = 5_689_347  # lowlow-chen/RCVSR net_rcvsr.SR, option_R3_mfqev2_*.yml (also in official_keys.json)
OUTPUT_TOL, GRAD_TOL = 1e-9, 1e-8  # fixture README: float64, CPU, threads 1 vs 2 and regenerations bitwise equal


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: OpenMP hand-offs dominate, and on a shared CPU two threads were measured 100x slower
    (15 s vs 0.16 s for one small training step). The fixture's numbers are thread-independent (README)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _small(**kw):
    torch.manual_seed(0)
    return RCVSR(**{"num_feat": 8, "upsampler_blocks": 1, "age_blocks": 1, **kw}).eval()


def _inputs(n=1, h=8, w=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 7, 1, h, w, generator=g), torch.rand(n, 2, 1, 2 * h, 2 * w, generator=g)


def _nparams(net):
    return sum(p.numel() for p in net.parameters())


# ------------------------------------------------------------------------------------------ published layout
def test_registered_and_published_parameter_count():
    assert ARCHS.get("RCVSR") is RCVSR
    assert _nparams(RCVSR()) == PUBLISHED_PARAMS
    net = build_network({"type": "RCVSR", "num_feat": 48, "num_frames": 7, "scale": 2})
    assert _nparams(net) == PUBLISHED_PARAMS


def test_full_published_config_and_every_official_key(tmp_path):
    info = parity.official_keys("rcvsr")
    net = RCVSR(**arch_kwargs(info["config"]))
    assert _nparams(net) == info["num_params"]
    own = net.state_dict()
    mapped = {official_to_vsrkit_key(k): k for k in info["keys"]}
    assert None not in mapped and len(mapped) == len(info["keys"]) == len(own)
    for new, old in mapped.items():
        assert list(own[new].shape) == info["keys"][old], (old, new)
    # through the real loader: published wrapper and DDP prefix, strict; each tensor lands on its own name
    state = {f"module.{k}": torch.full(shape, float(i)) for i, (k, shape) in enumerate(info["keys"].items())}
    parity.load_official(net, state, tmp_path, wrapper=info["checkpoint_wrapper"])
    loaded = net.state_dict()
    for i, old in enumerate(info["keys"]):
        assert torch.all(loaded[official_to_vsrkit_key(old)] == i), old


def test_converter_matches_published_keys_only():
    conv = CONVERTERS.get("RCVSR")()
    info = parity.official_keys("rcvsr")
    assert conv.matches(set(info["keys"]))
    assert not conv.matches(set(RCVSR(num_feat=8).state_dict()))
    assert official_to_vsrkit_key("something.else") is None
    state, notes = conv.convert({"ffnet.in_conv.0.bias": torch.zeros(8), "extra.weight": torch.zeros(1)},
                                RCVSR(num_feat=8))
    assert set(state) == {"neighbour_align.unet.head.0.bias", "extra.weight"} and "extra.weight" in notes[0]


def test_arch_kwargs_rejects_unequal_widths():
    cfg = parity.official_keys("rcvsr")["config"]
    bad = {**cfg, "upnet": {**cfg["upnet"], "nf": 32}}
    with pytest.raises(ConfigError, match="every nf/out_nc must be equal"):
        arch_kwargs(bad)
    with pytest.raises(ConfigError, match="missing key 'radius'"):
        arch_kwargs({k: v for k, v in cfg.items() if k != "radius"})


# --------------------------------------------------------------------------------------------------- parity
@pytest.fixture(scope="module", params=parity.DCN_BACKENDS)
def parity_run(tmp_path_factory, request):
    """One float64 pass on the fixture (train mode: no BN/dropout, so train == eval), loss = output.sum(), through
    each CPU DCN backend."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VSRKIT_DCN_BACKEND", request.param)
        return _parity_pass(tmp_path_factory)


def _parity_pass(tmp_path_factory):
    fix = parity.load_fixture("rcvsr")
    net = RCVSR(**arch_kwargs(fix["config"]))
    assert not any(isinstance(m, (torch.nn.modules.batchnorm._BatchNorm, torch.nn.Dropout)) for m in net.modules())
    parity.load_official(net, fix["state_dict"], tmp_path_factory.mktemp("rcvsr"), wrapper="state_dict")
    net = net.double().train()
    x = fix["inputs"]["x"].clone().requires_grad_(True)        # (B, T, h, w): frames as channels
    ref = fix["inputs"]["ref"].clone().requires_grad_(True)    # (B, 2, 1, 2h, 2w)
    out = net(x.unsqueeze(2), ref)                             # (B, 1, 1, 2h, 2w)
    out.sum().backward()
    params = dict(net.named_parameters())
    grads = {"input": x.grad, "input_ref": ref.grad}
    for key in fix["grads"]:
        if key not in grads:
            grads[key] = params[official_to_vsrkit_key(key)].grad
    return fix, out.detach()[:, 0], grads


def test_parity_output(parity_run):
    fix, out, _ = parity_run
    parity.assert_close(out, fix["output"], OUTPUT_TOL, "RCVSR output vs published")


def test_parity_gradients(parity_run):
    fix, _, grads = parity_run
    for key, expected in fix["grads"].items():
        parity.assert_close(grads[key], expected, GRAD_TOL, f"d(sum out)/d {key}")


# ------------------------------------------------------------------------------------------------ behaviour
def test_shapes_any_size_and_ref_layouts():
    net = _small()
    lq, ref = _inputs(n=2, h=8, w=16)
    with torch.no_grad():
        out = net(lq, ref)
        assert out.shape == (2, 1, 1, 16, 32)
        assert torch.equal(net(lq, ref[:, :, 0]), out)  # (n, 2, 2h, 2w) accepted as well
        assert torch.equal(out[:, 0], net._sr(lq[:, :, 0], ref[:, :, 0]))  # multiples of 8: nothing padded
        lq2, ref2 = _inputs(h=12, w=10)
        assert net(lq2, ref2).shape == (1, 1, 1, 24, 20)  # padded to 16x16 inside, cropped back


def test_output_is_bicubic_of_centre_frame_plus_residual():
    net = _small()
    torch.nn.init.zeros_(net.age.conv_out.weight)
    torch.nn.init.zeros_(net.age.conv_out.bias)
    lq, ref = _inputs()
    with torch.no_grad():
        out = net(lq, ref)
        up = F.interpolate(lq[:, 3], scale_factor=2, mode="bicubic", align_corners=True)
        assert torch.equal(out[:, 0], up)
        net.image_align_corners = False
        up_centres = F.interpolate(lq[:, 3], scale_factor=2, mode="bicubic", align_corners=False)
        assert torch.equal(net(lq, ref)[:, 0], up_centres)


def test_every_frame_and_reference_matters_in_train_mode():
    net = _small().train()
    lq, ref = _inputs()
    lq.requires_grad_(True)
    ref.requires_grad_(True)
    out = net(lq, ref)
    out.square().mean().backward()
    assert (lq.grad.abs().sum(dim=(0, 2, 3, 4)) > 0).all()  # all 7 frames through the STDF alignment
    assert (ref.grad.abs().sum(dim=(0, 2, 3, 4)) > 0).all()  # both key frames
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_published_attention_quirk_and_head_channels_option():
    """Published: one channel per head in enc1 -> softmax over one entry, zero grad for temperature and dw_q."""
    lq, ref = _inputs()
    net = _small().train()
    net(lq, ref).sum().backward()
    assert net.rrm.enc1.attn.num_heads == 8 and net.rrm.mid.attn.num_heads == 16
    assert torch.all(net.rrm.enc1.attn.temperature.grad == 0) and torch.all(net.rrm.enc1.attn.dw_q.weight.grad == 0)
    assert net.rrm.mid.attn.temperature.grad.abs().sum() > 0
    net = _small(head_channels=4).train()
    net(lq, ref).sum().backward()
    assert net.rrm.enc1.attn.num_heads == 2 and net.rrm.enc3.attn.num_heads == 8
    assert net.rrm.enc1.attn.temperature.grad.abs().sum() > 0


def _captured_alignment_image(net, lq, ref):
    seen = {}

    def hook(module, args, out):
        seen["image"] = args[1]

    handle = net.ref_align[1].register_forward_hook(hook)
    with torch.no_grad():
        net(lq, ref)
    handle.remove()
    return seen["image"]


def test_reference_alignment_source():
    lq, ref = _inputs()
    up = F.interpolate(lq[:, 3], scale_factor=2, mode="bicubic", align_corners=True)
    assert torch.equal(_captured_alignment_image(_small(), lq, ref), up)  # published: deforms the LR upsample
    assert torch.equal(_captured_alignment_image(_small(ref_align_source="reference"), lq, ref), ref[:, 1])


def test_ablate_refs_ignores_key_frames():
    net = _small(ablate_refs=True)
    lq, ref = _inputs()
    with torch.no_grad():
        out = net(lq, None)
        assert torch.equal(net(lq, ref), out) and torch.equal(net(lq, torch.zeros_like(ref)), out)
        full = _small()
        assert not torch.equal(full(lq, ref), full(lq, torch.zeros_like(ref)))


@pytest.mark.parametrize("kwargs, match", [
    ({"scale": 4}, r"network_g.scale: RCVSR is x2 only"),
    ({"num_frames": 6}, r"network_g.num_frames: 6 must be odd"),
    ({"ref_align_source": "ref"}, r"network_g.ref_align_source: unknown value 'ref'"),
    ({"head_channels": 5}, r"network_g.head_channels: 5 must be 0"),
    ({"stdf_deform_ks": 4}, r"network_g.stdf_deform_ks: 4 must be an odd kernel size"),
])
def test_bad_options_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        RCVSR(num_feat=8, **kwargs)


def test_bad_inputs_name_the_expected_shape():
    net = _small()
    lq, ref = _inputs()
    with pytest.raises(ValueError, match=r"lq must be \(n, 7, 1, h, w\)"):
        net(lq[:, :5], ref)
    with pytest.raises(ValueError, match="ref .* key frames are required"):
        net(lq)
    with pytest.raises(ValueError, match=r"ref must be \(1, 2, 1, 16, 16\)"):
        net(lq, ref[..., :8, :8])
    with pytest.raises(ValueError, match="too small"):
        net(lq[..., :4, :4], ref[..., :8, :8])
