"""Clip-level evaluation shared by validation during training and test.py.

Per frame -> mean per clip -> mean over clips, for every metric in ``val.metrics`` and, when asked, for bicubic
upsampling of the same input as a baseline. Results from all ranks are merged.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from vsrkit.builders import check_kwargs
from vsrkit.engine.dist import gather_objects
from vsrkit.errors import ConfigError
from vsrkit.metrics import ClipMetrics, tensor_to_uint8
from vsrkit.registry import METRICS


def build_metric_fns(metrics_opt: dict, where: str = "val.metrics") -> dict[str, Callable]:
    """``{'psnr': {'type': 'psnr', 'crop_border': 4, 'y_mode': 'y_bt601'}}`` -> ``{'psnr': fn(out_u8, gt_u8)}``."""
    fns = {}
    for label, cfg in (metrics_opt or {}).items():
        cfg = dict(cfg or {})
        kind = cfg.pop("type", label)
        fn = METRICS.get(kind, where=f"{where}.{label}.type")
        check_kwargs(fn, {"img": None, "img2": None, **cfg}, f"{where}.{label}")
        fns[label] = (lambda f, kw: (lambda a, b: float(f(a, b, **kw))))(fn, cfg)
    return fns


def bicubic_upsample(lq: torch.Tensor, scale: int) -> torch.Tensor:
    """``(n,t,c,h,w)`` -> ``(n,t,c,sh,sw)`` bicubic (align_corners=False), clamped to [0, 1]."""
    n, t, c, h, w = lq.shape
    up = F.interpolate(lq.reshape(n * t, c, h, w).float(), scale_factor=scale, mode="bicubic", align_corners=False)
    return up.reshape(n, t, c, h * scale, w * scale).clamp(0, 1)


def score_clip(table: ClipMetrics, clip: str, out: torch.Tensor, gt: torch.Tensor, fns: dict, rounding: str,
               prefix: str = "") -> None:
    """Add per-frame metric values of ``out`` vs ``gt`` (both ``(t,c,h,w)`` in [0,1]) under ``prefix + label``."""
    if out.shape != gt.shape:
        raise ConfigError(f"clip {clip}: output {tuple(out.shape)} and GT {tuple(gt.shape)} differ; check 'scale'")
    out_u8 = tensor_to_uint8(out, rounding=rounding)
    gt_u8 = tensor_to_uint8(gt, rounding="round")
    for i in range(out_u8.shape[0]):
        for label, fn in fns.items():
            table.add(clip, prefix + label, fn(out_u8[i], gt_u8[i]))


def evaluate(infer: Callable[[dict], torch.Tensor], batches: Iterable[dict], fns: dict, scale: int,
             rounding: str = "round", compare_bicubic: bool = True,
             on_output: Callable[[dict, torch.Tensor], None] | None = None) -> ClipMetrics:
    """Run ``infer(batch) -> (1,t,c,sh,sw)`` over this rank's clips and merge the tables of all ranks."""
    table = ClipMetrics()
    for batch in batches:
        out = infer(batch).float().cpu()
        clip = batch["key"][0] if isinstance(batch["key"], (list, tuple)) else batch["key"]
        gt = batch["gt"].float().cpu()
        score_clip(table, clip, out[0], gt[0], fns, rounding)
        if compare_bicubic:
            score_clip(table, clip, bicubic_upsample(batch["lq"].cpu(), scale)[0], gt[0], fns, rounding,
                       prefix="bicubic_")
        if on_output is not None:
            on_output(batch, out)
    merged = ClipMetrics()
    for part in gather_objects(table.state_dict()):
        merged.merge(ClipMetrics.from_state_dict(part))
    return merged
