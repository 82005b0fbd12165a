"""The official-checkpoint mechanism: converters registered per arch, auto-detected from key names."""
import logging

import pytest
import torch
from torch import nn

from vsrkit.archs.official import OfficialConverter, find_converter, to_vsrkit_state_dict
from vsrkit.engine.checkpoint import atomic_save, extract_state_dict, load_network
from vsrkit.errors import CheckpointError
from vsrkit.registry import CONVERTERS


class ToyOfficialNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(3, 4, 3)
        self.tail = nn.Conv2d(4, 3, 1)


@CONVERTERS.register("ToyOfficialNet")
class ToyOfficialConverter(OfficialConverter):
    source = "someone/toy ToyNet"

    def matches(self, keys):
        return "conv_first.weight" in keys

    def convert(self, state, net):
        out = {k.replace("conv_first", "head").replace("conv_last", "tail"): v for k, v in state.items()
               if not k.startswith("unused.")}
        return out, ["dropped unused.* (never called by the published forward)"]


def _published(net):
    return {k.replace("head", "conv_first").replace("tail", "conv_last"): v.clone() + 1
            for k, v in net.state_dict().items()} | {"unused.weight": torch.zeros(2)}


def test_converter_is_found_by_arch_class_name():
    assert isinstance(find_converter(ToyOfficialNet()), ToyOfficialConverter)
    assert find_converter(nn.Linear(2, 2)) is None


def test_own_keys_pass_unchanged_and_published_keys_are_converted(caplog):
    net = ToyOfficialNet()
    own = net.state_dict()
    assert to_vsrkit_state_dict(net, own) is own
    with caplog.at_level(logging.INFO, logger="vsrkit"):
        converted = to_vsrkit_state_dict(net, _published(net), "x.pth")
    assert set(converted) == set(own)
    assert "someone/toy ToyNet" in caplog.text and "dropped unused.*" in caplog.text


@pytest.mark.parametrize("wrapper", [None, "state_dict", "model", "params", "model_state_dict"])
def test_load_network_converts_published_checkpoints_in_any_wrapper(tmp_path, wrapper):
    net, src = ToyOfficialNet(), ToyOfficialNet()
    state = {"module." + k: v for k, v in _published(src).items()}
    atomic_save({wrapper: state} if wrapper else state, tmp_path / "pub.pth")
    load_network(net, tmp_path / "pub.pth", param_key=None)
    for k, v in net.state_dict().items():
        assert torch.equal(v, src.state_dict()[k] + 1), k


def test_unrecognised_layout_lists_the_keys(tmp_path):
    atomic_save({"something.weight": torch.zeros(1)}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match=r"x.pth: does not fit ToyOfficialNet \(missing keys .*unexpected keys "
                                              r"something.weight"):
        load_network(ToyOfficialNet(), tmp_path / "x.pth")


def test_shape_mismatch_names_both_shapes(tmp_path):
    state = ToyOfficialNet().state_dict()
    state["tail.bias"] = torch.zeros(5)
    atomic_save(state, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match=r"shape mismatch tail.bias \(5,\) vs \(3,\)"):
        load_network(ToyOfficialNet(), tmp_path / "x.pth")


@pytest.mark.parametrize("content, what", [([1, 2], "list"), (torch.zeros(3), "Tensor"), ({"params": [1]}, "not all"),
                                           ({}, "empty mapping")])
def test_checkpoint_contents_are_checked(content, what):
    with pytest.raises(CheckpointError, match=f"x.pth: holds .*{what}.*, not network weights"):
        extract_state_dict(content, "params", "x.pth")
