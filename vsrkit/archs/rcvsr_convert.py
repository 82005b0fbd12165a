"""Official checkpoints of RCVSR (``lowlow-chen/RCVSR`` ``net_rcvsr.SR``) -> :class:`vsrkit.archs.rcvsr_arch.RCVSR`.

The published training script saves ``{'num_iter_accum', 'state_dict', 'optimizer'[, 'scheduler']}`` (``module.``
prefixes under DDP); the loader unwraps both. Every published tensor has the same shape in vsrkit: only names change.
:func:`official_to_vsrkit_key` gives the name of one tensor, :func:`arch_kwargs` the RCVSR arguments of a published
``network:`` option section.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from vsrkit.archs.official import OfficialConverter
from vsrkit.errors import ConfigError
from vsrkit.registry import CONVERTERS

# STDF / FEnet U-Net
_UNET = [(r"in_conv\.", "head."), (r"dn_conv(\d+)\.", lambda m: f"down.{int(m[1]) - 1}."),
         (r"up_conv(\d+)\.", lambda m: f"up.{int(m[1]) - 1}."), (r"tr_conv\.", "bottom."), (r"out_conv\.", "tail.")]
_SKFF = [(r"conv\.", "squeeze."), (r"fcs\.", "excite.")]
_DSTA = [(r"conv1\.", "reduce."), (r"conv_f\.", "skip."), (r"conv_max\.", "conv_max."), (r"conv2\.", "down."),
         (r"conv3_\.", "refine2."), (r"conv3\.", "refine1."), (r"conv4\.", "expand."), (r"dcn\.", "dcn."),
         (r"mask2\.", "coarse_offset_mask."), (r"mask\.", "offset_mask."), (r"down_conv2\.", "coarse."),
         (r"conv_du\.(\d+)\.", lambda m: f"channel_gate.{int(m[1]) + 1}.")]
_ATTN = [(r"temperature$", "temperature"), (r"qkv\.", "proj."), (r"qkv_dwconv_q\.", "dw_q."),
         (r"qkv_dwconv_kv\.", "dw_kv."), (r"project_out\.", "proj_out.")]
_RRM_BLOCKS = {"conv1": "enc1", "down_1": "enc2", "down_2": "enc3", "conv2": "mid", "up_1": "dec2", "up_2": "dec1"}
_RRM_CONVS = {"down_1": "down1", "down_2": "down2", "conv2_1": "mid_conv", "up_1": "up1", "up_2": "up2"}
_ALIGN_BRANCH = {"1": 0, "3": 1, "5": 2}


def _rename(rest: str, table) -> str | None:
    """Apply the first rule of ``table`` that matches the start of ``rest``; None if none does."""
    for pattern, new in table:
        m = re.match(pattern, rest)
        if m:
            head = new(m) if callable(new) else new
            return head + rest[m.end():]
    return None


def _dbrb(rest: str) -> str | None:
    m = re.match(r"(conv1|conv2)\.(\d)\.(.*)$", rest)
    if m:
        branch = "branch_x" if m[1] == "conv1" else "branch_y"
        inner = m[3] if m[2] != "2" else _rename(m[3], _DSTA)
        return None if inner is None else f"{branch}.{m[2]}.{inner}"
    return "act." + rest[len("relu."):] if rest.startswith("relu.") else None


def _skff(rest: str) -> str | None:
    return _rename(rest, _SKFF)


def _stdf(rest: str) -> str | None:
    if rest.startswith("offset_mask_5."):
        return "dcn.offset_head.0." + rest[len("offset_mask_5."):]
    if rest.startswith("deform_conv_5."):
        return "dcn." + rest[len("deform_conv_5."):]
    inner = _rename(rest, _UNET)
    return None if inner is None else "unet." + inner


def _alignet(rest: str) -> str | None:
    m = re.match(r"(offset_mask|deform_conv)_(\d+)\.(.*)$", rest)
    if m and m[2] in _ALIGN_BRANCH:
        head = "offset_head.0." if m[1] == "offset_mask" else ""
        return f"branches.{_ALIGN_BRANCH[m[2]]}.{head}{m[3]}"
    if rest.startswith("select."):
        inner = _skff(rest[len("select."):])
        return None if inner is None else "fuse." + inner
    return None


def _upnet(rest: str) -> str | None:
    m = re.match(r"shuffle\.(.*)$", rest)
    if m:
        return "shuffle_branch." + m[1]
    m = re.match(r"res_up\.2\.(top|bot)\.(.*)$", rest)
    if m:
        return f"residual_branch.2.{'learned' if m[1] == 'top' else 'interp'}.{m[2]}"
    m = re.match(r"res_up\.(.*)$", rest)
    if m:
        return "residual_branch." + m[1]
    m = re.match(r"br_conv(\d+)\.(.*)$", rest)
    if m:
        inner = _dbrb(m[2])
        return None if inner is None else f"blocks.{m[1]}.{inner}"
    if rest.startswith("conv."):
        inner = _skff(rest[len("conv."):])
        return None if inner is None else "fuse." + inner
    return None


def _rrm(rest: str) -> str | None:
    if rest.startswith("fuse."):
        inner = _skff(rest[len("fuse."):])
        return None if inner is None else "fuse." + inner
    m = re.match(r"(conv1|down_1|down_2|conv2|up_1|up_2)_(a|m)\.(0|1)\.(.*)$", rest)
    if m:
        block, part, index, tail = _RRM_BLOCKS[m[1]], m[2], m[3], m[4]
        if index == "0":  # the bias-free LayerNorm
            return f"{block}.norm_{'attn' if part == 'a' else 'ffn'}.{tail[len('body.'):]}" \
                if tail.startswith("body.") else None
        if part == "m":
            return f"{block}.ffn.{tail}"
        inner = _rename(tail, _ATTN)
        return None if inner is None else f"{block}.attn.{inner}"
    m = re.match(r"(down_1|down_2|conv2_1|up_1|up_2)\.(.*)$", rest)
    if m:
        return f"{_RRM_CONVS[m[1]]}.{m[2]}"
    return None


def _age(rest: str) -> str | None:
    m = re.match(r"br_conv([12])(\d+)\.(.*)$", rest)
    if m:
        inner = _dbrb(m[3])
        chain = "chain_align" if m[1] == "1" else "chain_extract"
        return None if inner is None else f"{chain}.{m[2]}.{inner}"
    for old, new in (("alig1.", "align_fuse."), ("alig2.", "extract_fuse."), ("fuse.0.", "fuse.")):
        if rest.startswith(old):
            inner = _skff(rest[len(old):])
            return None if inner is None else new + inner
    if rest.startswith("br."):
        inner = _dbrb(rest[len("br."):])
        return None if inner is None else "merge." + inner
    if rest.startswith("fuse.1."):
        return "conv_out." + rest[len("fuse.1."):]
    return None


def official_to_vsrkit_key(key: str) -> str | None:
    """Published parameter name -> vsrkit RCVSR name, or None when the name is not part of the published net."""
    m = re.match(r"(ffnet|self_alig(\d)|extractor(\d)|upnet|fusion|attention)\.(.*)$", key)
    if not m:
        return None
    top, rest = m[1], m[4]
    if top == "ffnet":
        inner, prefix = _stdf(rest), "neighbour_align."
    elif m[2] is not None:
        inner, prefix = _alignet(rest), f"ref_align.{m[2]}."
    elif m[3] is not None:
        unet = _rename(rest, _UNET)
        inner, prefix = unet, f"ref_extract.{m[3]}."
    elif top == "upnet":
        inner, prefix = _upnet(rest), "upsampler."
    elif top == "fusion":
        inner, prefix = _rrm(rest), "rrm."
    else:
        inner, prefix = _age(rest), "age."
    return None if inner is None else prefix + inner


def arch_kwargs(network: dict) -> dict:
    """RCVSR constructor arguments for a published ``network:`` option section (``opts_dict['network']``).

    Every width of the published net must be equal (its SK fusion views channels as ``(branches, nf)``), the input
    is one channel (Y) and all base kernels are 3; anything else raises ConfigError.
    """
    try:
        widths = {network["stdf"]["nf"], network["stdf"]["out_nc"], network["self_alig"]["nf"],
                  network["self_alig"]["out_nc"], network["extractor"]["nf"], network["upnet"]["nf"],
                  network["attention"]["nf"], network["fusion"]["nf"]}
        in_nc = {network["stdf"]["in_nc"], network["self_alig"]["in_nc"], network["extractor"]["in_nc"]}
        kernels = {network["stdf"].get("base_ks", 3), network["extractor"]["base_ks"], network["upnet"]["base_ks"],
                   network["attention"]["base_ks"], network["fusion"]["base_ks"]}
        kwargs = {"num_feat": widths.pop() if len(widths) == 1 else None, "num_frames": 2 * network["radius"] + 1,
                  "stdf_levels": network["stdf"]["nb"], "stdf_deform_ks": network["stdf"]["deform_ks"],
                  "ref_deform_ks": network["self_alig"]["deform_ks"], "age_blocks": network["attention"]["nb"],
                  "scale": network["upnet"]["scale_factor"]}
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"RCVSR network options: missing key {exc} (expected the published network: section)") \
            from None
    if kwargs["num_feat"] is None:
        raise ConfigError("RCVSR network options: every nf/out_nc must be equal (the published SK fusion needs it)")
    if in_nc != {1} or kernels != {3}:
        raise ConfigError(f"RCVSR network options: in_nc must be 1 (Y) and base_ks 3, got in_nc {sorted(in_nc)}, "
                          f"base_ks {sorted(kernels)}")
    return kwargs


@CONVERTERS.register("RCVSR")
class RCVSRConverter(OfficialConverter):
    source = "lowlow-chen/RCVSR net_rcvsr.SR"

    def matches(self, keys) -> bool:
        return "ffnet.offset_mask_5.weight" in keys and "fusion.conv1_a.1.qkv.weight" in keys

    def convert(self, state: dict[str, torch.Tensor], net: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
        out: dict[str, torch.Tensor] = {}
        unknown = []
        for key, value in state.items():
            new = official_to_vsrkit_key(key)
            if new is None:
                unknown.append(key)
                out[key] = value  # left for the loader to list as unexpected
            else:
                out[new] = value
        notes = [f"{len(unknown)} tensors have no place in RCVSR: {', '.join(unknown[:5])}"] if unknown else []
        return out, notes
