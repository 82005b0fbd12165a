"""Published MSITF checkpoints (``carpenterChina/MSITF`` ``Net``, bare ``state_dict`` with buffers) -> :class:`MSITF`.

Key renames only; shapes and values are unchanged (the DCN offset head ``conv_offset`` already predicts
``[offsets (dy, dx) per group and point | mask logits]`` in the layout of :class:`vsrkit.ops.dcn.DCNPack`). The
stored Swin buffers (``relative_coords_table``, ``relative_position_index``, ``attn_mask``) map onto the same
buffers of :class:`vsrkit.archs.swinv2.WindowAttentionV2` / ``SwinV2Block``.
"""
from __future__ import annotations

import re
from typing import Collection

import torch
from torch import nn

from vsrkit.archs.official import OfficialConverter
from vsrkit.registry import CONVERTERS

#: (published pattern, vsrkit replacement), applied in this order to every key
RENAMES: tuple[tuple[str, str], ...] = (
    (r"^ConvBLSTM\.forward_net\.cell_list\.0\.conv\.", "lstm.lstm.gates."),
    (r"^ConvBLSTM\.forward_net\.pcd_([hc])\.", r"lstm.lstm.align_\1."),
    (r"^ConvBLSTM\.conv_1x1\.", "lstm.fuse."),
    (r"(^|\.)fea_L([23])_conv([12])\.", r"\1pyramid.l\2_conv\3."),
    (r"^pcd_align\.", "interp."),
    (r"\.pcd_align\.", ".align."),
    (r"^fusion\.", "interp_fusion."),
    (r"L([123])_dcnpack_1\.conv_offset\.", r"l\1_dcn.offset_head.0."),
    (r"L([123])_dcnpack_1\.", r"l\1_dcn."),
    (r"L([123])_(offset_conv[123]|fea_conv)_1\.", r"l\1_\2."),
    (r"^feature_extraction\.", "feat_blocks."),
    (r"^attn\.", "temporal_attn."),
    (r"^recon_trunk\.patch_embed\.proj\.", "trunk.embed."),
    (r"^recon_trunk\.patch_embed\.norm\.", "trunk.embed_norm."),
    (r"^recon_trunk\.layers\.(\d+)\.residual_group\.blocks\.", r"trunk.groups.\1.blocks."),
    (r"^recon_trunk\.layers\.(\d+)\.patch_embed\.proj\.", r"trunk.groups.\1.proj."),
    (r"^recon_trunk\.layers\.(\d+)\.conv\.", r"trunk.groups.\1.conv."),
    (r"^recon_trunk\.", "trunk."),
    (r"^HRconv\.", "hr_conv."),
)
_COMPILED = tuple((re.compile(p), r) for p, r in RENAMES)


def published_to_vsrkit_key(key: str) -> str:
    """One published ``Net`` state-dict key -> the :class:`MSITF` key."""
    for pattern, repl in _COMPILED:
        key = pattern.sub(repl, key)
    return key


@CONVERTERS.register("MSITF")
class MSITFConverter(OfficialConverter):
    source = "carpenterChina/MSITF Net"

    def matches(self, keys: Collection[str]) -> bool:
        return "pcd_align.L1_dcnpack_1.conv_offset.weight" in keys and "recon_trunk.conv_after_body.weight" in keys

    def convert(self, state: dict[str, torch.Tensor], net: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
        notes = []
        if not getattr(net, "faithful", True):
            notes.append("MSITF(faithful: false) deforms the midpoint of both PCD inputs; the published weights were "
                         "trained deforming the first input only (set faithful: true to reproduce the published "
                         "outputs)")
        return {published_to_vsrkit_key(k): v for k, v in state.items()}, notes
