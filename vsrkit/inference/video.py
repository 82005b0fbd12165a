"""Pieces of ``scripts/infer_video.py``: network from options + checkpoint, input video -> frame stream, comparison
image.

Kept here (not in the script) so that they are importable and tested.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from vsrkit.errors import CheckpointError, ConfigError, DataError
from vsrkit.fileio import atomic_path

NON_H264_POLICIES = ("fail", "spynet")
#: file name endings of the containers the output video can be written in (H.264 muxes into each)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".m4v")


def check_output_video(output: str, reads: dict[str, str | None]) -> None:
    """ConfigError unless ``output`` is a writable video path that is none of ``reads`` (``{flag: path}``: the
    input video, options, checkpoints), checked before anything is loaded or written."""
    from vsrkit.folders import check_separate

    check_separate(output, reads)
    if os.path.isdir(output):
        raise ConfigError(f"--output {output}: is a folder; give a video file name such as {output.rstrip('/')}"
                          f"/out.mp4")
    if not output.lower().endswith(VIDEO_SUFFIXES):
        raise ConfigError(f"--output {output}: not a video file name; end it with {', '.join(VIDEO_SUFFIXES)} "
                          f"(e.g. {os.path.splitext(output)[0]}.mp4)")


class InputVideo:
    """An input video, read frame by frame in display order (for :func:`iter_inference_frames`), so that host
    memory does not grow with its length.

    Attributes:
        path, codec: the file and its video codec name (``'h264'``, ``'hevc'``...).
        fps: the stream's average (else guessed) frame rate as a Fraction, exact (e.g. 30000/1001); 25 when the
            file has none.
        width, height: frame size.
        frame_count: frames to expect (the container's count, capped by ``max_frames``; 0 when unknown).
        strict: stop at the first damaged frame (FFmpeg reported decoding errors) instead of warning.
    """

    def __init__(self, path: str, max_frames: int | None = None, strict: bool = False):
        from fractions import Fraction

        from vsrkit.codec.decode import open_video

        if max_frames is not None and max_frames < 1:
            raise ConfigError(f"--max-frames {max_frames}: give a positive number of frames")
        container, stream = open_video(path)
        try:
            ctx = stream.codec_context
            self.path, self.codec = path, ctx.name
            self.width, self.height = ctx.width, ctx.height
            rate = stream.average_rate or stream.guessed_rate
            self.fps = Fraction(rate) if rate else Fraction(25)
            count = int(stream.frames or 0)
        finally:
            container.close()
        self.max_frames = max_frames
        self.strict = strict
        self.frame_count = min(count, max_frames) if count and max_frames else (count or 0)

    def frames(self, need_motion: bool):
        """Yield per frame ``{'rgb': (h, w, 3) uint8, 'lq': (3, h, w) uint8 tensor, 'frame_types': int}`` and, with
        ``need_motion`` (an ``alignment: mv`` network), ``mv_bwd``/``mv_fwd`` ``(2, h, w)`` float32 tensors (LR
        pixels, unit temporal distance) from :func:`vsrkit.codec.iter_motion`.

        Damaged frames are warned about (their number, once) or, with ``strict``, raise.

        Raises:
            DataError: a non-H.264 file when motion is needed (the caller decides on a fallback before calling, see
                :data:`NON_H264_POLICIES`); a file without decodable frames; decoding errors; with ``strict`` a
                damaged frame.
        """
        if need_motion and self.codec != "h264":
            raise DataError(f"{self.path}: is {self.codec}, but the network aligns with H.264 motion vectors; "
                            f"re-encode it as H.264, or run with --non-h264 spynet (SPyNet flow instead of codec "
                            f"motion)")
        return self._frames(need_motion)

    def _frames(self, need_motion: bool):
        from vsrkit.codec import DecodeStream, iter_motion

        if need_motion:
            stream = iter_motion(self.path, qp=False, strict=self.strict)
            source = ({"rgb": f.frame, "frame_types": f.frame_type, "mv_bwd": torch.from_numpy(f.mv_bwd),
                       "mv_fwd": torch.from_numpy(f.mv_fwd)} for f in stream)
        else:
            stream = DecodeStream(self.path, qp=False, strict=self.strict)
            source = ({"rgb": r["rgb"], "frame_types": r["type"]} for r in stream)
        count = 0
        for item in source:
            if self.max_frames is not None and count >= self.max_frames:
                source.close()  # stops the decoder and closes the file
                corrupt = [i for i in stream.corrupt if i < count]
                if corrupt:  # the decoder warns at its end only, which was not reached
                    import logging

                    logging.getLogger("vsrkit").warning(
                        f"{self.path}: {len(corrupt)} of the first {count} frames were decoded with errors (frames "
                        f"{', '.join(map(str, corrupt[:8]))}); the file is damaged, re-encode or replace it")
                break
            item["lq"] = torch.from_numpy(item["rgb"]).permute(2, 0, 1)
            count += 1
            yield item
        if not count:
            raise DataError(f"{self.path}: no decodable frames")


def network_config(opt: dict, ablate_mvs: bool = False, ablate_second_order: bool = False,
                   alignment: str | None = None) -> dict:
    """``opt['network_g']`` with the published ablation flags (and an alignment override) applied."""
    if "network_g" not in opt:
        raise ConfigError(f"{opt.get('opt_path', 'options')}: no network_g section; give the training/test options "
                          f"of the checkpoint")
    cfg = dict(opt["network_g"])
    if ablate_mvs:
        cfg["ablate_mvs"] = True
    if ablate_second_order:
        cfg["second_order"] = False
    if alignment is not None:
        cfg["alignment"] = alignment
        if alignment != "spynet":
            cfg.pop("spynet_pretrained", None)
    return cfg


def build_and_load(cfg: dict, model_path: str, param_key: str = "params_ema", strict: bool = True):
    """Build ``cfg`` from the ARCHS registry and load ``model_path`` into it (eval mode)."""
    from vsrkit.builders import build_network
    from vsrkit.engine.checkpoint import load_network

    net = build_network(cfg, "network_g")
    if not os.path.isfile(model_path):
        raise CheckpointError(f"{model_path}: checkpoint not found; pass --model with a trained net_g_*.pth")
    load_network(net, model_path, param_key=param_key, strict=strict)
    return net.eval()


def spynet_fallback(opt: dict, model_path: str, param_key: str, spynet_path: str | None,
                    fallback_model: str | None, ablate_second_order: bool = False):
    """The network for a non-H.264 input of an ``alignment: mv`` model: the same trunk with SPyNet alignment.

    With ``fallback_model`` (a checkpoint of the SPyNet baseline trained with the same options except
    ``alignment: spynet``) that checkpoint is used as is. Otherwise the MV model's trunk is loaded and SPyNet gets
    the local weights ``spynet_path`` (BasicSR/mmagic layout); without either there is no sensible flow, so it fails.
    """
    from vsrkit.archs.spynet import load_spynet

    cfg = network_config(opt, ablate_second_order=ablate_second_order, alignment="spynet")
    if fallback_model:
        return build_and_load(cfg, fallback_model, param_key)
    spynet_path = spynet_path or (opt.get("path") or {}).get("pretrain_spynet")
    if not spynet_path:
        raise ConfigError("--non-h264 spynet needs trained flow: give --fallback-model (a checkpoint of the "
                          "alignment: spynet baseline) or --spynet (local SPyNet weights, BasicSR/mmagic layout)")
    net = build_and_load(cfg, model_path, param_key, strict=False)  # trunk only; the MV refiner is not used
    load_spynet(spynet_path, net.spynet)
    return net.eval()


def bicubic_frames(frames: np.ndarray, scale: int) -> np.ndarray:
    """``(k, h, w, 3)`` uint8 -> ``(k, scale*h, scale*w, 3)`` uint8 by bicubic upsampling (torch, clamped)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    up = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    return (up.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def side_by_side(lq: np.ndarray, sr: np.ndarray, scale: int, labels=("bicubic", "vsrkit")) -> np.ndarray:
    """``[bicubic(lq) | sr]`` with labels: lq ``(h, w, 3)``, sr ``(scale*h, scale*w, 3)`` uint8 RGB -> RGB image."""
    import cv2

    bic = bicubic_frames(lq[None], scale)[0]
    if bic.shape != sr.shape:
        raise DataError(f"comparison: SR frame {sr.shape} is not {scale}x the input frame {lq.shape}")
    gap = np.full((sr.shape[0], 8, 3), 255, np.uint8)
    img = np.ascontiguousarray(np.concatenate([bic, gap, sr], axis=1))
    size = max(0.4, sr.shape[0] / 400)
    for text, x0 in zip(labels, (0, sr.shape[1] + 8)):
        org = (x0 + 6, int(22 * size) + 4)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), max(1, int(3 * size)), cv2.LINE_AA)
        cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), max(1, int(size)), cv2.LINE_AA)
    return img


def write_png(path: str, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG atomically (temporary name in the same folder, then rename)."""
    import cv2

    with atomic_path(path, keep_ext=True) as tmp:
        if not cv2.imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise DataError(f"{path}: could not write the comparison image (check the folder permissions)")
