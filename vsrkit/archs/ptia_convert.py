"""Official checkpoints of ``submition/PTIA`` (class ``PTIA``, BasicSR layout) -> vsrkit :class:`PTIA`.

Key map (``{b}`` = backward_1 | forward_1 | backward_2 | forward_2; ``{i}`` = a block index)::

    spynet.basic_module.{l}.basic_module.{k}.conv.*          -> spynet.levels.{l}.convs.{k}.*
    encoder.model.conv{X_Y}.*  / encoder.tail.*              -> encoder.vgg.conv{X_Y}.* / encoder.proj.*
    deform_align.{b}.weight|bias                             -> align.{b}.dcn.weight|bias
    deform_align.{b}.flow_l3|flow_l2|flow_l1.*               -> align.{b}.levels.0|1|2.offsets.*   (S, M, L)
    deform_align.{b}.trans_l3|trans_l2|trans_l1.conv_first.* -> align.{b}.levels.0|1|2.to_flow.*
    deform_align.{b}.adastn.*                                -> align.{b}.dcn_offsets.*
        (inside both:) concat.0 -> fuse.0, concat2.0 -> fuse.2, transform_matrix_conv -> matrix,
        translation_conv -> translation, mask_conv -> mask
    deform_align.{b}.crossattn.norm1|norm2.*                 -> align.{b}.cafs.norm_attn|norm_mlp.*
    deform_align.{b}.crossattn.attn.wq|wk|wv|proj.*          -> align.{b}.cafs.q|k|v|proj.*
    deform_align.{b}.crossattn.mlp.fc1|fc2.*                 -> align.{b}.cafs.mlp.0|2.*
    backbone.{b}.main.* / reconstruction.main.*              -> trunk.{b}.* / recon.*
        main.0 -> conv_in; main.2.rg.{i}.res.0|2 -> group.blocks.{i}.body.0|2;
        main.2.rg.{i}.ca.conv_du.0|2 -> group.blocks.{i}.body.3.attention.1|3; main.2.rg.{last}.* -> group.conv.*
    fusion.{b}.*, conv_hr.*, conv_last.*                     -> unchanged
    upsample1.0.* / upsample2.0.*                            -> upsampler.body.0.* / upsampler.body.3.*

Dropped, with a note: the constant buffers ``spynet.mean/std``, ``encoder.mean/std`` (ImageNet statistics) and
``deform_align.*.regular_matrix`` (the 3x3 grid), which vsrkit holds as fixed non-persistent buffers.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from vsrkit.archs.official import OfficialConverter
from vsrkit.registry import CONVERTERS

#: published buffers that vsrkit keeps as constants (not in its state dict)
CONSTANT_BUFFERS = re.compile(r"^(spynet\.(mean|std)|encoder\.(mean|std)|deform_align\.\w+\.\w+\.regular_matrix)$")

_LEVELS = {"flow_l3": "levels.0.offsets", "flow_l2": "levels.1.offsets", "flow_l1": "levels.2.offsets",
           "trans_l3": "levels.0.to_flow", "trans_l2": "levels.1.to_flow", "trans_l1": "levels.2.to_flow",
           "adastn": "dcn_offsets"}
_OFFSET_PARTS = {"concat.0": "fuse.0", "concat2.0": "fuse.2", "transform_matrix_conv": "matrix",
                 "translation_conv": "translation", "mask_conv": "mask", "conv_first": ""}
_CAFS = {"norm1": "norm_attn", "norm2": "norm_mlp", "attn.wq": "q", "attn.wk": "k", "attn.wv": "v",
         "attn.proj": "proj", "mlp.fc1": "mlp.0", "mlp.fc2": "mlp.2"}
_PARAM = r"(weight|bias)"


def official_config_to_kwargs(config: dict) -> dict:
    """Constructor arguments of the published ``PTIA(n_flow, n_frame, n_resblock, n_feats, spynet_pretrained)``
    as vsrkit :class:`PTIA` keyword arguments (``n_flow``/``n_frame`` are unused by the published network)."""
    kwargs = {"mid_channels": int(config.get("n_feats", 64)), "num_blocks": int(config.get("n_resblock", 30))}
    if config.get("spynet_pretrained"):
        kwargs["spynet_pretrained"] = config["spynet_pretrained"]
    return kwargs


def _trunk_key(rest: str) -> str | None:
    """``main.*`` of a published ResidualBlocksWithInputConv -> vsrkit RCAGroupWithInputConv key."""
    if m := re.fullmatch(rf"main\.0\.{_PARAM}", rest):
        return f"conv_in.{m[1]}"
    if m := re.fullmatch(rf"main\.2\.rg\.(\d+)\.res\.(0|2)\.{_PARAM}", rest):
        return f"group.blocks.{m[1]}.body.{m[2]}.{m[3]}"
    if m := re.fullmatch(rf"main\.2\.rg\.(\d+)\.ca\.conv_du\.(0|2)\.{_PARAM}", rest):
        return f"group.blocks.{m[1]}.body.3.attention.{int(m[2]) + 1}.{m[3]}"
    if m := re.fullmatch(rf"main\.2\.rg\.(\d+)\.{_PARAM}", rest):  # the conv that closes the group
        return f"group.conv.{m[2]}"
    return None


def _align_key(rest: str) -> str | None:
    """``deform_align.{b}.*`` after the branch name -> ``align.{b}.*`` after the branch name."""
    if m := re.fullmatch(_PARAM, rest):
        return f"dcn.{m[1]}"
    head, _, tail = rest.partition(".")
    if head in _LEVELS:
        for old, new in _OFFSET_PARTS.items():
            if m := re.fullmatch(rf"{re.escape(old)}\.{_PARAM}", tail):
                return ".".join(p for p in (_LEVELS[head], new, m[1]) if p)
        return None
    if head == "crossattn":
        for old, new in _CAFS.items():
            if m := re.fullmatch(rf"{re.escape(old)}\.{_PARAM}", tail):
                return f"cafs.{new}.{m[1]}"
    return None


def official_key(key: str) -> str | None:
    """The vsrkit key of a published PTIA state-dict key, or None when it has no place (buffers, unknown)."""
    if m := re.fullmatch(rf"spynet\.basic_module\.(\d+)\.basic_module\.(\d+)\.conv\.{_PARAM}", key):
        return f"spynet.levels.{m[1]}.convs.{m[2]}.{m[3]}"
    if m := re.fullmatch(rf"encoder\.model\.(conv\d_\d)\.{_PARAM}", key):
        return f"encoder.vgg.{m[1]}.{m[2]}"
    if m := re.fullmatch(rf"encoder\.tail\.{_PARAM}", key):
        return f"encoder.proj.{m[1]}"
    if m := re.fullmatch(r"deform_align\.(\w+?_\d)\.(.+)", key):
        rest = _align_key(m[2])
        return f"align.{m[1]}.{rest}" if rest else None
    if m := re.fullmatch(r"backbone\.(\w+?_\d)\.(.+)", key):
        rest = _trunk_key(m[2])
        return f"trunk.{m[1]}.{rest}" if rest else None
    if m := re.fullmatch(r"reconstruction\.(.+)", key):
        rest = _trunk_key(m[1])
        return f"recon.{rest}" if rest else None
    if m := re.fullmatch(rf"upsample([12])\.0\.{_PARAM}", key):
        return f"upsampler.body.{3 * (int(m[1]) - 1)}.{m[2]}"
    if re.fullmatch(rf"(fusion\.\w+?_\d|conv_hr|conv_last)\.{_PARAM}", key):
        return key
    return None


@CONVERTERS.register("PTIA")
class PTIAConverter(OfficialConverter):
    source = "submition/PTIA PTIA"

    def matches(self, keys) -> bool:
        return "encoder.tail.weight" in keys and any(k.startswith("deform_align.") for k in keys)

    def convert(self, state: dict[str, torch.Tensor], net: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
        out: dict[str, torch.Tensor] = {}
        dropped: list[str] = []
        for key, value in state.items():
            if CONSTANT_BUFFERS.match(key):
                dropped.append(key)
                continue
            new = official_key(key)
            out[new if new is not None else key] = value  # unknown keys stay, so the loader lists them
        notes = []
        if dropped:
            notes.append(f"dropped {len(dropped)} constant buffers (ImageNet mean/std of SPyNet and the encoder, the "
                         f"3x3 grid of each affine-offset block); vsrkit holds them as fixed constants")
        if getattr(net, "alignment", "tbia") != "tbia":
            notes.append(f"the network uses alignment={net.alignment!r}: the checkpoint's TBIA weights do not fit it")
        return out, notes
