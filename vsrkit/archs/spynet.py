"""SPyNet optical flow (Ranjan & Black, CVPR 2017) as used inside BasicVSR-style networks.

Six pyramid levels; at each level a basic module of five 7x7 convs (8-32-64-32-16-2, ReLU between) refines the
upsampled coarser flow from ``cat(ref, warp(supp, flow), flow)``. Inputs are normalised with ImageNet statistics and
resized to a multiple of 32; the returned flow is resized back and rescaled to the input size. 1.44M parameters.

Weights cannot be downloaded here, so the network starts from random init and is trainable. :func:`load_spynet`
reads a local file in either published key layout:

* BasicSR (``spynet_sintel_final-3d2a1287.pth``, BasicVSR checkpoints): ``basic_module.{l}.basic_module.{0,2,4,6,8}
  .{weight,bias}`` (convs at the even indices of an ``nn.Sequential`` with ReLUs between), usually under ``params``;
  inside a BasicVSR checkpoint with a ``spynet.`` prefix.
* mmagic / MMEditing (``spynet_20210409-c6c1bd09.pth``, BasicVSR/BasicVSR++ checkpoints): ``basic_module.{l}
  .basic_module.{0..4}.conv.{weight,bias}`` (mmcv ``ConvModule``s) plus ``mean``/``std`` buffers, usually under
  ``state_dict``; inside a generator checkpoint with a ``generator.spynet.`` prefix.

vsrkit's own layout is ``levels.{l}.convs.{k}.{weight,bias}`` with ``k = 0..4``.
"""
from __future__ import annotations

import math
import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from vsrkit.archs.blocks import flow_warp
from vsrkit.errors import CheckpointError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_LEVELS = 6
_CHANNELS = (8, 32, 64, 32, 16, 2)


class SPyNetLevel(nn.Module):
    """One pyramid level: five 7x7 convs 8-32-64-32-16-2 with ReLU between. ``(n, 8, h, w)`` -> ``(n, 2, h, w)``."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(cin, cout, 7, 1, 3) for cin, cout in zip(_CHANNELS[:-1], _CHANNELS[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x


class SPyNet(nn.Module):
    """SPyNet flow estimator.

    ``forward(ref, supp)`` with ``ref``, ``supp`` ``(n, 3, h, w)`` RGB in ``[0, 1]`` returns the backward flow of
    ``ref`` w.r.t. ``supp``: ``(n, 2, h, w)`` in pixels, channel 0 = x, such that ``flow_warp(supp, flow)`` ~ ``ref``
    (pixel ``(x, y)`` of ``ref`` comes from ``(x+dx, y+dy)`` of ``supp``).

    Args:
        pretrained: optional path of a local weight file (BasicSR or mmagic layout, see :func:`load_spynet`).
    """

    def __init__(self, pretrained: str | None = None):
        super().__init__()
        self.levels = nn.ModuleList(SPyNetLevel() for _ in range(NUM_LEVELS))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            load_spynet(pretrained, self)

    def _flow_at_multiple_of_32(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        ref = [(ref - self.mean) / self.std]
        supp = [(supp - self.mean) / self.std]
        for _ in range(NUM_LEVELS - 1):
            ref.insert(0, F.avg_pool2d(ref[0], kernel_size=2, stride=2, count_include_pad=False))
            supp.insert(0, F.avg_pool2d(supp[0], kernel_size=2, stride=2, count_include_pad=False))
        n, _, h0, w0 = ref[0].shape
        flow = ref[0].new_zeros(n, 2, h0, w0)
        for level, module in enumerate(self.levels):
            up = flow if level == 0 else F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(supp[level], up, padding_mode="border")
            flow = up + module(torch.cat([ref[level], warped, up], dim=1))
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        if ref.shape != supp.shape or ref.dim() != 4 or ref.shape[1] != 3:
            raise ValueError(f"SPyNet: ref {tuple(ref.shape)} and supp {tuple(supp.shape)} must both be (n, 3, h, w)")
        h, w = ref.shape[-2:]
        h32, w32 = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
        if (h32, w32) != (h, w):
            ref = F.interpolate(ref, size=(h32, w32), mode="bilinear", align_corners=False)
            supp = F.interpolate(supp, size=(h32, w32), mode="bilinear", align_corners=False)
        flow = self._flow_at_multiple_of_32(ref, supp)
        if (h32, w32) != (h, w):
            flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
            flow = torch.stack((flow[:, 0] * (w / w32), flow[:, 1] * (h / h32)), dim=1)
        return flow


_CONV_INDEX_BASICSR = {0: 0, 2: 1, 4: 2, 6: 3, 8: 4}  # nn.Sequential index (ReLUs between) -> conv number
_KEY_BASICSR = re.compile(r"^basic_module\.(\d+)\.basic_module\.(\d+)\.(weight|bias)$")
_KEY_MMAGIC = re.compile(r"^basic_module\.(\d+)\.basic_module\.(\d+)\.conv\.(weight|bias)$")
_KEY_VSRKIT = re.compile(r"^levels\.(\d+)\.convs\.(\d+)\.(weight|bias)$")
_WRAPPERS = ("params_ema", "params", "state_dict", "model", "net")
_PREFIXES = ("module.", "generator.", "net_g.", "spynet.")


def spynet_key_layout(keys) -> str:
    """Which layout a set of state-dict keys uses: ``basicsr``, ``mmagic``, ``vsrkit`` or ``unknown``."""
    keys = [k for k in keys if k not in ("mean", "std")]
    for name, pattern in (("mmagic", _KEY_MMAGIC), ("basicsr", _KEY_BASICSR), ("vsrkit", _KEY_VSRKIT)):
        if keys and all(pattern.match(k) for k in keys):
            return name
    return "unknown"


def convert_spynet_state_dict(state: dict, source: str = "") -> dict:
    """Map a BasicSR, mmagic or vsrkit SPyNet state dict to vsrkit keys (``levels.{l}.convs.{k}.{weight,bias}``).

    Wrappers (``params``, ``state_dict``, ...) and prefixes (``module.``, ``generator.``, ``spynet.``) are removed;
    keys of a full BasicVSR checkpoint outside its SPyNet are dropped; ``mean``/``std`` buffers are ignored (fixed
    ImageNet statistics). Unknown keys are kept unchanged so that loading reports them.
    """
    for wrapper in _WRAPPERS:
        if isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    out: dict = {}
    spynet_prefixed = any(".spynet." in f".{k}" for k in state)
    for key, value in state.items():
        if spynet_prefixed:
            if "spynet." not in key:
                continue  # other parts of a full BasicVSR/BasicVSR++ checkpoint
            key = key[key.index("spynet.") + len("spynet."):]
        else:
            changed = True
            while changed:
                changed = False
                for prefix in _PREFIXES:
                    if key.startswith(prefix):
                        key, changed = key[len(prefix):], True
        if key in ("mean", "std"):
            continue
        if m := _KEY_MMAGIC.match(key):
            out[f"levels.{m[1]}.convs.{m[2]}.{m[3]}"] = value
        elif (m := _KEY_BASICSR.match(key)) and int(m[2]) in _CONV_INDEX_BASICSR:
            out[f"levels.{m[1]}.convs.{_CONV_INDEX_BASICSR[int(m[2])]}.{m[3]}"] = value
        else:
            out[key] = value
    return out


def to_basicsr_state_dict(state: dict) -> dict:
    """vsrkit SPyNet keys -> BasicSR layout (``basic_module.{l}.basic_module.{2k}.{weight,bias}``)."""
    inv = {v: k for k, v in _CONV_INDEX_BASICSR.items()}
    out = {}
    for key, value in state.items():
        if m := _KEY_VSRKIT.match(key):
            out[f"basic_module.{m[1]}.basic_module.{inv[int(m[2])]}.{m[3]}"] = value
    return out


def to_mmagic_state_dict(state: dict) -> dict:
    """vsrkit SPyNet keys -> mmagic layout (``basic_module.{l}.basic_module.{k}.conv.{weight,bias}``, + mean/std)."""
    out = {}
    for key, value in state.items():
        if m := _KEY_VSRKIT.match(key):
            out[f"basic_module.{m[1]}.basic_module.{m[2]}.conv.{m[3]}"] = value
    out["mean"] = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    out["std"] = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return out


def load_spynet(path: str, net: SPyNet | None = None) -> SPyNet:
    """Load SPyNet weights from a local file (BasicSR, mmagic or vsrkit layout) into ``net`` (or a new SPyNet).

    Raises:
        CheckpointError: unreadable file, or keys that do not fit (missing/unexpected keys listed).
    """
    net = SPyNet() if net is None else net
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: SPyNet weight file not found; give a local BasicSR/mmagic SPyNet .pth "
                              f"(it cannot be downloaded here) or leave spynet_pretrained empty to train from scratch")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file
        raise CheckpointError(f"{path}: cannot read SPyNet weights ({type(err).__name__}: {err}); "
                              f"the file is corrupt or not a torch state dict") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(raw).__name__}")
    state = convert_spynet_state_dict(raw, source=path)
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: not a SPyNet weight file in BasicSR/mmagic layout; missing keys: {_short(missing)}; "
            f"unexpected keys: {_short(unexpected)}")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        raise CheckpointError(f"{path}: SPyNet weight shapes differ for {_short(bad)} "
                              f"(e.g. {bad[0]}: file {tuple(state[bad[0]].shape)} vs net {tuple(own[bad[0]].shape)})")
    net.load_state_dict(state, strict=True)
    return net


def _short(keys: list[str], limit: int = 6) -> str:
    if not keys:
        return "none"
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more
