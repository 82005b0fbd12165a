"""SPyNet: output size and rescaling, parameter count, BasicSR/mmagic key-layout loading, bad files."""
import pytest
import torch

from vsrkit.archs.spynet import (SPyNet, convert_spynet_state_dict, load_spynet, spynet_key_layout,
                                 to_basicsr_state_dict, to_mmagic_state_dict)
from vsrkit.errors import CheckpointError


def test_parameter_count_is_published_1_44m():
    assert sum(p.numel() for p in SPyNet().parameters()) == 1_440_300


def test_flow_shape_and_rescaling_to_input_size():
    net = SPyNet()
    # Every level adds a constant +1 px in x: flow at the multiple-of-32 size is sum(2^k, k<6) = 63 px.
    for level in net.levels:
        for conv in level.convs:
            torch.nn.init.zeros_(conv.weight)
            torch.nn.init.zeros_(conv.bias)
        level.convs[-1].bias.data[:] = torch.tensor([1.0, 0.0])
    ref = torch.rand(2, 3, 40, 48)  # resized to 64 x 64 inside
    flow = net(ref, torch.rand(2, 3, 40, 48))
    assert flow.shape == (2, 2, 40, 48)
    assert torch.allclose(flow[:, 0], torch.full((2, 40, 48), 63.0 * 48 / 64), atol=1e-4)
    assert torch.allclose(flow[:, 1], torch.zeros(2, 40, 48), atol=1e-6)


def test_small_input_and_gradient():
    net = SPyNet()
    ref = torch.rand(1, 3, 16, 16, requires_grad=True)
    flow = net(ref, torch.rand(1, 3, 16, 16))
    flow.abs().mean().backward()
    assert flow.shape == (1, 2, 16, 16) and ref.grad is not None
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("layout", ["basicsr", "mmagic"])
def test_round_trip_through_published_key_layouts(tmp_path, layout):
    torch.manual_seed(0)
    src = SPyNet()
    if layout == "basicsr":
        keys = to_basicsr_state_dict(src.state_dict())
        assert "basic_module.5.basic_module.8.bias" in keys
        ckpt = {"params": keys}
    else:
        keys = to_mmagic_state_dict(src.state_dict())
        assert "basic_module.5.basic_module.4.conv.bias" in keys and "mean" in keys
        # A full mmagic BasicVSR checkpoint: SPyNet inside the generator, with other modules beside it.
        ckpt = {"meta": {}, "state_dict": {**{f"generator.spynet.{k}": v for k, v in keys.items()},
                                           "generator.conv_last.weight": torch.zeros(3, 64, 3, 3)}}
    assert spynet_key_layout(keys) == layout
    path = tmp_path / f"spynet_{layout}.pth"
    torch.save(ckpt, path)
    dst = load_spynet(str(path))
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    assert torch.equal(src(a, b), dst(a, b))
    assert not torch.equal(SPyNet()(a, b), src(a, b))


def test_basicvsr_checkpoint_prefix_is_stripped():
    state = {f"spynet.{k}": v for k, v in to_basicsr_state_dict(SPyNet().state_dict()).items()}
    state["backward_trunk.main.0.weight"] = torch.zeros(1)
    converted = convert_spynet_state_dict({"params": state})
    assert set(converted) == set(SPyNet().state_dict())


def test_wrong_keys_raise_checkpoint_error_listing_them(tmp_path):
    keys = to_basicsr_state_dict(SPyNet().state_dict())
    keys.pop("basic_module.0.basic_module.0.weight")
    keys["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save({"params": keys}, path)
    with pytest.raises(CheckpointError, match=r"missing keys: levels\.0\.convs\.0\.weight.*unexpected keys: extra"):
        load_spynet(str(path))


def test_corrupt_and_missing_files(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.pth"):
        load_spynet(str(path))
    with pytest.raises(CheckpointError, match="not found"):
        load_spynet(str(tmp_path / "absent.pth"))


def test_pretrained_argument_loads(tmp_path):
    src = SPyNet()
    path = tmp_path / "w.pth"
    torch.save({"params": to_basicsr_state_dict(src.state_dict())}, path)
    net = SPyNet(pretrained=str(path))
    assert all(torch.equal(net.state_dict()[k], v) for k, v in src.state_dict().items())
