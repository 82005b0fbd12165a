"""Official MV-VSR checkpoints (``mohamedshakir3/mv-flow-vsr``, class ``MVSR``) -> ``MVVSR`` (``mvvsr_arch.py``).

Key map (published -> vsrkit)::

    feat_extract.{0,2}.*                    -> feat_extract.{0,2}.*          (same)
    mv_refiner.net.{0,2}.*                  -> mv_refiner.net.{0,2}.*        (same)
    {backward,forward}_resblocks.i.body.0.* -> {backward,forward}_trunk.i.conv1.*
    {backward,forward}_resblocks.i.body.2.* -> {backward,forward}_trunk.i.conv2.*
    fusion.*                                -> fusion.*
    refinement.0.*                          -> conv_hr.*
    up.{3k}.*  (k < log2 scale)             -> upsampler.body.{3k}.*         (conv of each PixelShuffle step)
    up.{3 log2 scale}.*                     -> conv_last.*
    partion_map.*                           dropped, with a note: built by the published __init__, never called
    mvwarp._base                            dropped if present (a non-persistent cache of the warp grid)

Published checkpoints are raw state dicts (``best.pth``) or ``{'model': ...}`` / ``{'state_dict': ...}`` with an
optional ``module.`` prefix; :func:`vsrkit.engine.checkpoint.load_network` removes those wrappers before this runs.
To run a converted checkpoint exactly as the published code does, build the network with ``faithful: true``.
"""
from __future__ import annotations

import re
from typing import Collection

import torch
from torch import nn

from vsrkit.archs.official import OfficialConverter
from vsrkit.registry import CONVERTERS

_RESBLOCK = re.compile(r"^(backward|forward)_resblocks\.(\d+)\.body\.([02])\.(weight|bias)$")
_UP = re.compile(r"^up\.(\d+)\.(weight|bias)$")
_SAME = ("feat_extract.", "mv_refiner.", "fusion.")
_UNUSED = "partion_map."      # sic, the published attribute name
_CACHE = "mvwarp."


@CONVERTERS.register("MVVSR")
class MVVSRConverter(OfficialConverter):
    """Published ``MVSR`` state dict -> ``MVVSR`` (see the module docstring for the key map)."""

    source = "mohamedshakir3/mv-flow-vsr MVSR"

    def matches(self, keys: Collection[str]) -> bool:
        # Names only the published layout has (vsrkit's own checkpoints share feat_extract/mv_refiner/fusion).
        return "refinement.0.weight" in keys and any(_RESBLOCK.match(k) for k in keys)

    def key_map(self, keys: Collection[str], net: nn.Module) -> dict[str, str | None]:
        """``{published key: vsrkit key}``; ``None`` for keys dropped on purpose. Keys with no place in ``net`` map to
        themselves, so that the loader lists them as unexpected."""
        upsampler = getattr(net, "upsampler", None)
        steps = len(upsampler.body) // 3 if upsampler is not None else 2   # conv, PixelShuffle, LReLU per x2 step
        out: dict[str, str | None] = {}
        for key in keys:
            if key.startswith((_UNUSED, _CACHE)):
                out[key] = None
            elif key.startswith(_SAME):
                out[key] = key
            elif key.startswith("refinement.0."):
                out[key] = "conv_hr." + key[len("refinement.0."):]
            elif m := _RESBLOCK.match(key):
                direction, index, conv, kind = m.groups()
                out[key] = f"{direction}_trunk.{index}.{'conv1' if conv == '0' else 'conv2'}.{kind}"
            elif m := _UP.match(key):
                index, kind = int(m.group(1)), m.group(2)
                if index == 3 * steps:
                    out[key] = f"conv_last.{kind}"
                elif index % 3 == 0 and index < 3 * steps:
                    out[key] = f"upsampler.body.{index}.{kind}"
                else:
                    out[key] = key
            else:
                out[key] = key
        return out

    def convert(self, state: dict[str, torch.Tensor], net: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
        mapping = self.key_map(state, net)
        converted = {mapping[k]: v for k, v in state.items() if mapping[k] is not None}
        notes = []
        unused = [k for k in state if k.startswith(_UNUSED)]
        if unused:
            params = sum(state[k].numel() for k in unused)
            notes.append(f"dropped {len(unused)} partion_map.* tensors ({params:,} parameters): the published MVSR "
                         f"builds a PartitionMap that its forward never calls")
        cache = [k for k in state if k.startswith(_CACHE)]
        if cache:
            notes.append(f"dropped {', '.join(cache)} (the published warp's grid cache, rebuilt at run time)")
        return converted, notes
