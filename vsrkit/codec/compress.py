"""Compress a folder of LR clips with H.264 or HEVC into the compressed-video dataset layout.

``<input>/<clip>/00000000.png ...`` -> ``<output>/``::

    bitstreams/<clip>.mp4        the encoded clip
    lq/<clip>/00000000.png ...   decoded frames (what the network sees)
    motion/<clip>.npz            H.264: codec motion vectors, picture types, QP maps (vsrkit.codec.save_motion);
                                 HEVC with ``hevc_motion='estimate'``: block motion estimated on the decoded frames
    manifest.json                codec settings at the top level (crf, qp, preset, bf, ref, backend...), the input
                                 folder's own manifest under ``source_manifest`` (so ``scale``/``mode`` stay
                                 checkable), tool versions, clips

Each clip is written into hidden temporary names and renamed when complete, so an interrupted run leaves only whole
clips and running again with the same settings skips them. An output made with other settings is refused. The
encoder is checked to be available before anything is written, and a new output that fails before its first clip
is complete is removed again. Decoding the written bitstream is strict: a decoding error stops the run.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil

import numpy as np

from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import replace_dir, write_json_atomic
from vsrkit.folders import check_separate, list_clips
from vsrkit.manifest import MANIFEST, read_manifest

HEVC_MOTION = ("none", "estimate")


def compress_settings(codec: str, crf=None, qp=None, preset="medium", bf=None, ref=None, hevc_backend="pyav",
                      hm_bin=None, hm_cfg=None, hevc_motion="none", hevc_cascade=None) -> dict:
    """Validated settings recorded in the manifest (the encoders check them again and verify they were applied)."""
    from vsrkit.codec.h264 import h264_settings

    if codec == "h264":
        if hevc_backend != "pyav" or hm_bin or hm_cfg or hevc_motion != "none" or hevc_cascade:
            raise ConfigError("--hevc-backend/--hm-bin/--hm-cfg/--hevc-motion/--hevc-cascade apply to --codec hevc "
                              "only")
        return {**h264_settings(crf=crf, qp=qp, preset=preset, bf=bf, ref=ref), "motion": "codec"}
    if codec == "hevc":
        if crf is not None or bf is not None:
            raise ConfigError("--codec hevc is fixed-QP low-delay P: use --qp (and --ref), not --crf or --bf")
        if hevc_motion not in HEVC_MOTION:
            raise ConfigError(f"--hevc-motion must be one of {', '.join(HEVC_MOTION)}, got {hevc_motion!r}")
        if hevc_cascade is None:  # the x265 CLI backend exists for HM's cascade; HM takes it from its config
            hevc_cascade = "hm_ldp" if hevc_backend == "x265" else "none"
        if hevc_cascade not in ("none", "hm_ldp"):
            raise ConfigError(f"--hevc-cascade must be none or hm_ldp, got {hevc_cascade!r}")
        if hevc_cascade == "hm_ldp" and hevc_backend != "x265":
            raise ConfigError("--hevc-cascade hm_ldp needs --hevc-backend x265 (PyAV's libx265 cannot apply per-frame "
                              "QPs; HM reads the cascade from --hm-cfg)")
        from vsrkit.codec.hevc import hevc_settings

        s = {"codec": "hevc", "qp": 32 if qp is None else int(qp), "preset": preset, "cascade": hevc_cascade,
             "ref": 4 if ref is None else int(ref), "backend": hevc_backend, "hm_bin": hm_bin,
             "hm_cfg": hm_cfg, "motion": "block_estimate" if hevc_motion == "estimate" else None}
        hevc_settings(qp=s["qp"], backend=hevc_backend, preset=preset, ref=s["ref"],
                      cascade=None if hevc_cascade == "none" else hevc_cascade, hm_bin=hm_bin, hm_cfg=hm_cfg)
        return s
    raise ConfigError(f"--codec must be h264 or hevc, got {codec!r}")


def check_encoder(settings: dict) -> None:
    """ConfigError naming what to install when the encoder of ``settings`` is not available here."""
    import av

    if settings["codec"] == "h264" or settings.get("backend") == "pyav":
        name = "libx264" if settings["codec"] == "h264" else "libx265"
        if name not in av.codecs_available:
            raise ConfigError(f"--codec {settings['codec']}: this PyAV/FFmpeg build has no {name} encoder; install a "
                              f"PyAV wheel built with it (pip install av)")
    elif settings.get("backend") == "x265" and shutil.which("x265") is None:
        raise ConfigError("--hevc-backend x265: the x265 command-line encoder is not installed (Debian: apt-get "
                          "install x265); or use --hevc-backend pyav")


def _read_clip(folder: str, names: list[str]) -> np.ndarray:
    import cv2

    frames = []
    for name in names:
        path = os.path.join(folder, name)
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(f"{path}: unreadable or truncated PNG; re-create this frame")
        frames.append(img[:, :, ::-1])
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise DataError(f"{folder}: frames have different sizes {sorted(shapes)}; a clip needs one size")
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise DataError(f"{folder}: frames are {w}x{h}; 4:2:0 video needs even sizes (crop or pad the clip)")
    return np.stack(frames)


def _encode_and_decode(frames: np.ndarray, bitstream: str, s: dict):
    """Encode, then decode: ``(decoded frames (t,h,w,3) uint8, MotionClip or None)``."""
    from vsrkit.codec import decode_video, encode_h264, encode_hevc, estimate_block_motion, read_motion

    if s["codec"] == "h264":
        encode_h264(frames, bitstream, crf=s["crf"], qp=s["qp"], preset=s["preset"], bf=s["bf"], ref=s["ref"])
        clip = read_motion(bitstream, strict=True)
        return clip.frames, clip.without_frames()
    encode_hevc(frames, bitstream, qp=s["qp"], backend=s["backend"], preset=s["preset"], ref=s["ref"],
                cascade=None if s.get("cascade", "none") == "none" else s["cascade"], hm_bin=s["hm_bin"],
                hm_cfg=s["hm_cfg"])
    decoded = decode_video(bitstream, strict=True).frames
    motion = estimate_block_motion(decoded).without_frames() if s["motion"] == "block_estimate" else None
    return decoded, motion


def compress_clip(task: tuple[str, str, str, list[str], dict]) -> str:
    """Worker: one clip -> bitstream, decoded LQ frames and motion; skips a clip that is already complete."""
    import cv2

    from vsrkit.codec import save_motion

    input_root, output_root, clip, names, s = task
    lq_dir = os.path.join(output_root, "lq", clip)
    motion_file = os.path.join(output_root, "motion", f"{clip}.npz")
    if os.path.isdir(lq_dir) and (s["motion"] is None or os.path.isfile(motion_file)):
        return clip
    frames = _read_clip(os.path.join(input_root, clip), names)
    bitstream = os.path.join(output_root, "bitstreams", f"{clip}.mp4")
    os.makedirs(os.path.dirname(bitstream), exist_ok=True)  # nested clip names (00001/0001) get sub-folders
    decoded, motion = _encode_and_decode(frames, bitstream, s)
    if len(decoded) != len(frames):
        raise DataError(f"{bitstream}: decoded {len(decoded)} frames, encoded {len(frames)}; the encoder dropped "
                        f"or duplicated frames")
    tmp_dir = os.path.join(output_root, "lq", f".{clip.replace('/', '__')}.tmp-{os.getpid()}")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    for name, frame in zip(names, decoded):
        if not cv2.imwrite(os.path.join(tmp_dir, os.path.splitext(name)[0] + ".png"),
                           np.ascontiguousarray(frame[:, :, ::-1])):
            raise DataError(f"{tmp_dir}: could not write PNG; check free space and permissions")
    if motion is not None:
        os.makedirs(os.path.dirname(motion_file), exist_ok=True)
        save_motion(motion_file, motion)  # atomic; written before the frames folder appears, so "lq/<clip>" = done
    os.makedirs(os.path.dirname(lq_dir), exist_ok=True)  # only now: a parent folder in lq/ means a finished clip
    replace_dir(tmp_dir, lq_dir)
    return clip


def _check_output(output_root: str, manifest: dict, settings: dict) -> None:
    path = os.path.join(output_root, MANIFEST)
    if os.path.isfile(path):
        old = read_manifest(path, f"delete {output_root} or choose another --output")
        keys = [k for k in settings if k != "threads"] + ["source"]
        diff = [k for k in keys if old.get(k) != json.loads(json.dumps(manifest.get(k)))]
        if diff:
            have = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
            raise DataError(f"{path}: output was made with {have}; choose another --output or delete {output_root}")
    elif os.path.isdir(output_root) and any(not e.startswith(".") for e in os.listdir(output_root)):
        raise DataError(f"{output_root}: exists, is not empty and has no {MANIFEST}; choose a new or empty --output")


def _remove_if_nothing_done(output_root: str, made: list[str], made_root: bool) -> None:
    """After a failed first run: remove what it created (``made`` sub-folders, the manifest, the root if it made it)
    when no clip was completed; a run that completed clips stays, to be resumed."""
    lq = os.path.join(output_root, "lq")
    if os.path.isdir(lq) and any(not e.startswith(".") for e in os.listdir(lq)):
        return
    for sub in made:
        shutil.rmtree(os.path.join(output_root, sub), ignore_errors=True)
    with contextlib.suppress(OSError):
        os.remove(os.path.join(output_root, MANIFEST))
    if made_root:
        with contextlib.suppress(OSError):
            os.rmdir(output_root)  # only if empty


def compress_folder(input_root: str, output_root: str, settings: dict, workers: int = 1,
                    progress: bool = True) -> dict:
    """Compress every clip of ``input_root`` (see the module docstring); returns the manifest written."""
    from tqdm import tqdm

    from vsrkit.codec.versions import tool_versions

    check_separate(output_root, {"--input": input_root})
    clips = list_clips(input_root)
    check_encoder(settings)
    source_manifest = None
    src = os.path.join(input_root, MANIFEST)
    if os.path.isfile(src):
        source = read_manifest(src, f"fix or delete it (it describes the input {input_root})")
        source_manifest = {k: v for k, v in source.items() if k != "clips"}
    manifest = {"tool": "vsrkit.codec.compress", **settings, "source": os.path.realpath(input_root), "source_manifest": source_manifest,
                "versions": tool_versions(), "clips": {c: len(f) for c, f in clips.items()},
                "frames": sum(map(len, clips.values())), "complete": False}
    _check_output(output_root, manifest, settings)
    fresh = not os.path.isfile(os.path.join(output_root, MANIFEST))
    made_root = not os.path.exists(output_root)
    subs = ("lq", "bitstreams") + (("motion",) if settings["motion"] else ())
    made = [sub for sub in subs if not os.path.exists(os.path.join(output_root, sub))]
    for sub in subs:
        os.makedirs(os.path.join(output_root, sub), exist_ok=True)
    write_json_atomic(os.path.join(output_root, MANIFEST), manifest)
    tasks = [(input_root, output_root, clip, names, settings) for clip, names in clips.items()]
    bar = tqdm(total=len(tasks), unit="clip", desc=f"{settings['codec']}", disable=not progress)
    try:
        if workers <= 1:
            for task in tasks:
                compress_clip(task)
                bar.update()
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(compress_clip, tasks):
                    bar.update()
    except BaseException:
        if fresh:
            _remove_if_nothing_done(output_root, made, made_root)
        raise
    finally:
        bar.close()
    manifest["complete"] = True
    write_json_atomic(os.path.join(output_root, MANIFEST), manifest)
    return manifest
