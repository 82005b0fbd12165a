"""VGG16 front end as a full-resolution feature encoder (PTIA's feature extractor), and a loader for local VGG16 weights.

:class:`VGGFeatureEncoder` is VGG16 ``conv1_1 .. conv3_1`` with ``pool1``/``pool2`` removed (so the features stay at
the input size), ReLU after every conv but the last, ImageNet-normalised input, then a 3x3 conv ``256 -> out``.

ImageNet weights cannot be downloaded here, so the encoder starts from torchvision's VGG initialisation
(Kaiming-normal, fan_out, biases 0) and is trained with the rest of the network. :func:`load_vgg16` reads a local
file in one of these layouts (wrappers ``state_dict``/``params``/``params_ema``/``model`` and a ``module.`` prefix are
removed):

* torchvision ``vgg16-397923af.pth``: ``features.{0,2,5,7,10}.{weight,bias}`` (the rest of VGG16 is ignored);
* a published PTIA checkpoint: ``encoder.model.conv{1_1,1_2,2_1,2_2,3_1}.{weight,bias}`` (other keys ignored);
* vsrkit: ``[encoder.]vgg.conv{...}.{weight,bias}``.

Only the five VGG convs are loaded; the projection conv keeps its initialisation.
"""
from __future__ import annotations

import os
from collections import OrderedDict

import torch
from torch import nn

from vsrkit.errors import CheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: (name, in, out) of the VGG16 convs kept, in order; a ReLU follows every one but the last
VGG16_CONVS = (("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128), ("conv2_2", 128, 128),
               ("conv3_1", 128, 256))
#: index of each kept conv in torchvision's ``vgg16().features`` (pools at 4 and 9 are the ones removed)
TORCHVISION_INDEX = {"conv1_1": 0, "conv1_2": 2, "conv2_1": 5, "conv2_2": 7, "conv3_1": 10}
_WRAPPERS = ("params_ema", "params", "state_dict", "model")


class VGGFeatureEncoder(nn.Module):
    """VGG16 ``conv1_1..conv3_1`` without pooling + 3x3 conv ``256 -> out_channels``.

    Args:
        out_channels: channels of the returned features (64 in PTIA).
        pretrained: optional local VGG16 weight file (see :func:`load_vgg16`); None = trained from scratch.
    Shapes: ``(n, 3, h, w)`` RGB in ``[0, 1]`` -> ``(n, out_channels, h, w)``.
    """

    def __init__(self, out_channels: int = 64, pretrained: str | None = None):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (name, cin, cout) in enumerate(VGG16_CONVS):
            layers[name] = nn.Conv2d(cin, cout, 3, 1, 1)
            if i < len(VGG16_CONVS) - 1:
                layers["relu" + name[4:]] = nn.ReLU(inplace=True)
        self.vgg = nn.Sequential(layers)
        self.proj = nn.Conv2d(VGG16_CONVS[-1][2], out_channels, 3, 1, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        for module in self.vgg:  # torchvision's VGG initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        if pretrained:
            load_vgg16(pretrained, self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.vgg((x - self.mean) / self.std))


def vgg16_state_from(state: dict) -> dict[str, torch.Tensor]:
    """The five kept convs of a torchvision / PTIA / vsrkit state dict, as ``{conv1_1.weight: ...}``.

    Keys not recognised are ignored; a layout with none of the five convs returns an empty dict.
    """
    for wrapper in _WRAPPERS:
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    out: dict[str, torch.Tensor] = {}
    for name, _, _ in VGG16_CONVS:
        for param in ("weight", "bias"):
            for key in (f"features.{TORCHVISION_INDEX[name]}.{param}", f"encoder.model.{name}.{param}",
                        f"encoder.vgg.{name}.{param}", f"vgg.{name}.{param}"):
                if key in state:
                    out[f"{name}.{param}"] = state[key]
                    break
    return out


def load_vgg16(path: str, encoder: VGGFeatureEncoder) -> VGGFeatureEncoder:
    """Load VGG16 ``conv1_1..conv3_1`` weights from a local file into ``encoder.vgg``.

    Raises:
        CheckpointError: missing or unreadable file, or one without all five convs in a known layout / shape.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: VGG16 weight file not found; give a local torchvision vgg16 .pth (it cannot "
                              f"be downloaded here) or leave vgg_pretrained empty to train the encoder from scratch")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file
        raise CheckpointError(f"{path}: cannot read VGG16 weights ({type(err).__name__}: {err})") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(raw).__name__}")
    state = vgg16_state_from(raw)
    own = {k: v for k, v in encoder.vgg.state_dict().items()}
    missing = sorted(set(own) - set(state))
    if missing:
        raise CheckpointError(f"{path}: not a VGG16 weight file (torchvision features.N / PTIA encoder.model.convX_Y "
                              f"layout); missing {', '.join(missing)}")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        raise CheckpointError(f"{path}: VGG16 weight shapes differ for {bad[0]}: file {tuple(state[bad[0]].shape)} "
                              f"vs encoder {tuple(own[bad[0]].shape)}")
    encoder.vgg.load_state_dict(state, strict=True)
    return encoder
