"""Clip-level evaluation shared by validation during training and test.py, the same for every model shape.

A model's ``infer(batch)`` returns a :class:`~vsrkit.models.prediction.Prediction`: frames with their (clip, frame
id). Every frame is scored once, per (clip, frame) — a frame already scored (overlapping space-time windows) is
skipped — then the mean per clip and the mean over clips are taken, for every scorer in ``val.metrics`` and for the
shape's baseline (bicubic of the matching LQ frame) when asked. Results from all ranks are merged.

A scorer is a metric option, so each published protocol is data, not code::

    val:
      rounding: round                     # default for every scorer: round | truncate | none (float, unclamped)
      metrics:
        psnr:   {type: psnr, crop_border: 0, y_mode: y_bt601, published: true}
        psnr_rgb: {type: psnr, channel_mean: true, rounding: truncate}   # mean of per-channel PSNRs
        psnr_pooled: {type: psnr_pooled}  # -10 log10(mean MSE) over each clip and over clips (STDO)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from vsrkit.builders import check_kwargs
from vsrkit.engine.dist import gather_objects
from vsrkit.errors import ConfigError
from vsrkit.metrics import ClipMetrics, tensor_to_uint8
from vsrkit.models.prediction import Prediction
from vsrkit.registry import METRICS

log = logging.getLogger("vsrkit")

ROUNDINGS = ("round", "truncate", "none")
BASELINE_PREFIX = "bicubic_"


@dataclass
class Scorer:
    """One column: ``fn(out, gt)`` on frames prepared by ``rounding``.

    Attributes:
        fn: ``(out (h, w, c), gt (h, w, c)) -> float`` (uint8 arrays, or float64 in 0..255 units for ``none``).
        rounding: ``round`` (half to even) or ``truncate`` to uint8, or ``none``: float, unclamped.
        aggregate: ``mean`` or ``pooled_psnr`` (see :class:`vsrkit.metrics.ClipMetrics`).
        published: the column is the paper's protocol (marked in the table); the others are vsrkit's additions.
    """
    fn: Callable[[np.ndarray, np.ndarray], float]
    rounding: str = "round"
    aggregate: str = "mean"
    published: bool = False


def build_scorers(metrics_opt: dict | None, rounding: str = "round", where: str = "val.metrics") -> dict[str, Scorer]:
    """``{'psnr': {'type': 'psnr', 'crop_border': 4, 'y_mode': 'y_bt601'}}`` -> ``{'psnr': Scorer}``.

    Each entry takes the metric function's keyword arguments plus ``rounding`` (default: ``val.rounding``) and
    ``published``; unknown keys fail with a suggestion.
    """
    scorers = {}
    for label, cfg in (metrics_opt or {}).items():
        cfg = dict(cfg or {})
        kind = cfg.pop("type", label)
        how = cfg.pop("rounding", rounding)
        published = cfg.pop("published", False)
        if how not in ROUNDINGS:
            raise ConfigError(f"{where}.{label}.rounding: {how!r} is not one of {', '.join(ROUNDINGS)}")
        if not isinstance(published, bool):
            raise ConfigError(f"{where}.{label}.published: must be true or false, got {published!r}")
        fn = METRICS.get(kind, where=f"{where}.{label}.type")
        check_kwargs(fn, {"img": None, "img2": None, **cfg}, f"{where}.{label}")
        scorers[label] = Scorer((lambda f, kw: (lambda a, b: float(f(a, b, **kw))))(fn, cfg), how,
                                getattr(fn, "aggregate", "mean"), published)
    return scorers


def frames_for_scoring(frames: torch.Tensor, rounding: str) -> np.ndarray:
    """``(k, c, h, w)`` float in [0, 1] -> ``(k, h, w, c)`` uint8 (``round``/``truncate``) or float64 0..255 units
    (``none``: unclamped)."""
    if rounding == "none":
        return np.ascontiguousarray(np.moveaxis(frames.detach().double().cpu().numpy() * 255.0, -3, -1))
    return tensor_to_uint8(frames, rounding=rounding)


def new_table(scorers: dict[str, Scorer], baseline: bool) -> ClipMetrics:
    aggregate = {label: s.aggregate for label, s in scorers.items()}
    if baseline:
        aggregate.update({BASELINE_PREFIX + label: how for label, how in aggregate.items()})
    return ClipMetrics(aggregate)


def score_prediction(table: ClipMetrics, pred: Prediction, scorers: dict[str, Scorer], compare_baseline: bool) -> None:
    """Add every frame of ``pred`` not yet in ``table`` (per clip and frame id) under each scorer's label."""
    if pred.gt is None:
        raise ConfigError("evaluation needs ground truth: the dataset gave no 'gt'")
    if pred.out.shape != pred.gt.shape:
        raise ConfigError(f"clip {pred.clips[0]}: output {tuple(pred.out.shape)} and GT {tuple(pred.gt.shape)} "
                          f"differ; check 'scale' and the model's frames (val.center_frame_only)")
    roundings = sorted({s.rounding for s in scorers.values()})
    columns = [("", pred.out)]
    if compare_baseline and pred.baseline is not None:
        prefix = f"{pred.baseline_name}_"
        columns.append((prefix, pred.baseline))
        if prefix != BASELINE_PREFIX:  # another baseline (e.g. a space-time model's trilinear): same aggregation
            for label, s in scorers.items():
                table.set_aggregate(prefix + label, s.aggregate)
    for i, clip in enumerate(pred.clips):
        gts = {r: frames_for_scoring(pred.gt[i], "round" if r == "truncate" else r) for r in roundings}
        for prefix, frames in columns:
            prepared = {r: frames_for_scoring(frames[i], r) for r in roundings}
            for j, frame in enumerate(pred.frame_ids[i].tolist()):
                for label, s in scorers.items():
                    table.add(clip, prefix + label, s.fn(prepared[s.rounding][j], gts[s.rounding][j]), frame)


def evaluate(infer: Callable[[dict], Prediction], batches: Iterable[dict], scorers: dict[str, Scorer],
             compare_baseline: bool = True,
             on_output: Callable[[dict, Prediction], None] | None = None) -> ClipMetrics:
    """Run ``infer`` over this rank's items, score each (clip, frame) once, and merge the tables of all ranks.

    ``on_output(batch, prediction)`` sees only the frames scored for the first time (e.g. to save them).
    """
    table = new_table(scorers, compare_baseline)
    noted = set()
    for batch in batches:
        pred = infer(batch)
        if compare_baseline and pred.baseline is None and pred.baseline_note and pred.baseline_note not in noted:
            noted.add(pred.baseline_note)
            log.info("no baseline column: %s", pred.baseline_note)
        if pred.out.shape[0] == 1:
            first = next(iter(scorers), None)
            seen = table.frame_ids(pred.clips[0], first) if first else set()
            keep = torch.tensor([[f not in seen for f in pred.frame_ids[0].tolist()]]) & _first_occurrence(pred.frame_ids)
            if not bool(keep.all()):
                pred = pred.select(keep)
        score_prediction(table, pred, scorers, compare_baseline)
        if on_output is not None and pred.out.shape[1]:
            on_output(batch, pred)
    merged = new_table(scorers, compare_baseline)
    for part in gather_objects(table.state_dict()):
        merged.merge(ClipMetrics.from_state_dict(part))
    return merged


def _first_occurrence(frame_ids: torch.Tensor) -> torch.Tensor:
    """``(1, k)`` True where a frame id appears for the first time in the row."""
    seen, keep = set(), []
    for f in frame_ids[0].tolist():
        keep.append(f not in seen)
        seen.add(f)
    return torch.tensor([keep])
