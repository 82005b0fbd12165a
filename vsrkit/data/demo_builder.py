"""Build the demo's compressed-video dataset from real photographs shipped with scikit-image (no download).

Each clip is a window moving over one photograph with a smooth synthetic camera path (pan + zoom + hand shake,
sub-pixel, rendered with bicubic interpolation from an area-downscaled copy of the photo). HR frames are the ground
truth; LR frames are MATLAB-exact bicubic x``scale`` downsamplings (``vsrkit.degrade.imresize``, "BI"), encoded as
H.264 with libx264 (CRF 25, ``bf=0, ref=1`` by default so that every motion vector points at the previous frame);
decoded LR frames, motion vectors and picture types come from :func:`vsrkit.codec.read_motion`. With ``objects: N``
each clip also has N independently moving objects over the camera's view (:mod:`vsrkit.data.demo_objects`).

Layout (per split, ``train`` and ``val``; validation clips use photographs that no training clip uses)::

    <root>/manifest.json                     all settings, clips, photos, tool versions
    <root>/<split>/manifest.json             the same settings for that split
    <root>/<split>/gt/<clip>/00000000.png    HR, RGB
    <root>/<split>/lq/<clip>/00000000.png    decoded compressed LR
    <root>/<split>/motion/<clip>.npz         mv_bwd, mv_fwd, frame_types, qp (vsrkit.codec.save_motion)
    <root>/<split>/true_flow/<clip>.npz      the camera's true motion on the LR grid (vsrkit.data.demo_truth)
    <root>/<split>/bitstreams/<clip>.mp4

The dataset is built in ``<root>.tmp-<pid>`` and renamed at the end: an interrupted build leaves no half dataset.
Command line: ``python -m vsrkit.data.demo_builder --root datasets/demo``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import replace_dir, write_json_atomic

#: colour photographs in scikit-image's wheel (loaded offline); grey ones are converted to RGB
TRAIN_PHOTOS = ("rocket", "stereo_motorcycle", "camera", "coins", "page", "text", "moon", "horse",
                "immunohistochemistry", "hubble_deep_field")
#: held-out photographs, used only by validation clips (sharp natural scenes; skimage's ``clock`` is motion-blurred
#: on purpose, which makes bicubic look optimal, so it is not used for validation)
VAL_PHOTOS = ("coffee", "chelsea", "astronaut")

SCHEMA = "vsrkit-demo-dataset/1"
#: camera pan speed range, HR px/frame (a dataset built with another range records it in its settings)
DEFAULT_PAN_SPEED = (0.5, 6.0)
#: named camera speeds for ``pan_speed`` (HR px/frame): ``demo`` is the default (0.1-1.5 LR px/frame at x4),
#: ``fast`` 1.5-4 LR px/frame at x4 (handheld footage, REDS)
CAMERA_SPEEDS = {"demo": DEFAULT_PAN_SPEED, "fast": (6.0, 16.0)}


def load_photo(name: str) -> np.ndarray:
    """A scikit-image sample photograph as ``(h, w, 3)`` uint8 RGB."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (img.astype(np.float64) * (255.0 / max(float(img.max()), 1.0))).round().astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def camera_path(rng: np.random.Generator, num_frames: int, hr_hw: tuple[int, int], photo_hw: tuple[int, int],
                pan_speed: tuple[float, float] = (0.5, 6.0)):
    """Random smooth camera trajectory.

    Returns ``(source_scale, centres (t, 2) xy, zooms (t,), angles (t,) radians, info dict)``: the photo is first
    area-downscaled by ``source_scale`` (<= 1); frame t samples the window of size ``hr_hw * zooms[t]`` around
    ``centres[t]``, rotated by ``angles[t]``. Speeds are drawn in ``pan_speed`` HR px/frame (default 0.5-6, i.e.
    0.1-1.5 LR px at x4), zoom up to
    +-1%/frame, shake 0-1.5 px, rotation up to +-0.3 deg/frame (pan and shake slowed down when the photo is too
    small for the path). ``info["pan_px_per_frame"]`` is the pan velocity actually used (HR px, x then y).
    """
    h, w = hr_hw
    ph, pw = photo_hw
    # zoomed-out views of big photos, but the downscaled photo keeps at least 1.5x the window on each side
    source_scale = min(1.0, max(float(rng.uniform(0.45, 1.0)), 1.5 * max(h / ph, w / pw)))
    sh, sw = ph * source_scale, pw * source_scale
    t = np.arange(num_frames, dtype=np.float64)
    speed = rng.uniform(float(pan_speed[0]), float(pan_speed[1]))
    direction = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(direction), np.sin(direction)])
    zoom_rate = rng.uniform(-0.01, 0.01)
    zooms = (1.0 + zoom_rate) ** t
    spin = np.deg2rad(rng.uniform(-0.3, 0.3))
    angles = spin * t
    amp = rng.uniform(0.0, 1.5, size=2)
    freq = rng.uniform(0.15, 0.6, size=2)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    shake = amp[None, :] * np.sin(freq[None, :] * t[:, None] + phase[None, :])
    offsets = t[:, None] * velocity[None, :] + shake
    # keep the rotated, zoomed window inside the photo: half-diagonal of the largest window
    half = 0.5 * np.hypot(h, w) * zooms.max() + 2
    lo = np.array([half, half]) - offsets.min(axis=0)
    hi = np.array([sw - half, sh - half]) - offsets.max(axis=0)
    if np.any(hi < lo):  # photo too small for this path: slow down until it fits
        room = np.maximum(np.array([sw, sh]) - 2 * half, 0)
        span = np.maximum(offsets.max(axis=0) - offsets.min(axis=0), 1e-6)
        slow = min(1.0, float((room / span).min()))
        offsets, velocity, amp = offsets * slow, velocity * slow, amp * slow
        lo = np.array([half, half]) - offsets.min(axis=0)
        hi = np.maximum(np.array([sw - half, sh - half]) - offsets.max(axis=0), lo)
    start = lo + rng.uniform(0, 1, size=2) * (hi - lo)
    centres = start[None, :] + offsets
    info = {"source_scale": round(source_scale, 4),
            "pan_px_per_frame": [round(float(v), 3) for v in velocity], "zoom_per_frame": round(float(zoom_rate), 5),
            "rotation_deg_per_frame": round(float(np.rad2deg(spin)), 4),
            "shake_px": [round(float(a), 3) for a in amp]}
    return source_scale, centres, zooms, angles, info


def render_clip(photo: np.ndarray, hr_hw, source_scale, centres, zooms, angles) -> np.ndarray:
    """Render HR frames ``(t, h, w, 3)`` uint8 along a camera path (see :func:`camera_path`)."""
    import cv2

    h, w = hr_hw
    src = photo
    if source_scale < 1.0:
        size = (max(1, round(photo.shape[1] * source_scale)), max(1, round(photo.shape[0] * source_scale)))
        src = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    out = np.empty((len(centres), h, w, 3), np.uint8)
    oc = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    for i, (c, z, a) in enumerate(zip(centres, zooms, angles)):
        rot = z * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        m = np.hstack([rot, (c - rot @ oc)[:, None]])  # output pixel -> source point
        out[i] = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                borderMode=cv2.BORDER_REFLECT_101)
    return out


def _write_png(path: str, rgb: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1])):
        raise DataError(f"{path}: could not write PNG; check disk space and permissions")


def _settings(num_train_clips, num_val_clips, num_frames, hr_size, scale, crf, seed, bf, ref, preset,
              pan_speed=DEFAULT_PAN_SPEED, objects=0) -> dict:
    hr = (int(hr_size), int(hr_size)) if np.isscalar(hr_size) else tuple(int(v) for v in hr_size)
    if len(hr) != 2 or hr[0] % (2 * scale) or hr[1] % (2 * scale):
        raise ConfigError(f"demo dataset: hr_size {hr_size} must be divisible by 2*scale={2 * scale} (the LR frames "
                          f"need even sizes for YUV 4:2:0)")
    if num_train_clips < 1 or num_val_clips < 1 or num_frames < 2:
        raise ConfigError("demo dataset: need num_train_clips >= 1, num_val_clips >= 1 and num_frames >= 2")
    if isinstance(pan_speed, str):
        if pan_speed not in CAMERA_SPEEDS:
            raise ConfigError(f"demo dataset: pan_speed {pan_speed!r} is not a named speed; use one of "
                              f"{', '.join(CAMERA_SPEEDS)} or [low, high] HR px/frame")
        pan_speed = CAMERA_SPEEDS[pan_speed]
    speed = [float(v) for v in pan_speed]
    if len(speed) != 2 or not 0 <= speed[0] <= speed[1]:
        raise ConfigError(f"demo dataset: pan_speed {pan_speed} must be [low, high] HR px/frame with 0 <= low <= high")
    settings = {"num_train_clips": int(num_train_clips), "num_val_clips": int(num_val_clips),
                "num_frames": int(num_frames), "hr_size": list(hr), "lr_size": [hr[0] // scale, hr[1] // scale],
                "scale": int(scale), "degradation": "bi_matlab_imresize", "crf": float(crf), "seed": int(seed),
                "bf": int(bf), "ref": int(ref), "preset": preset}
    if speed != list(DEFAULT_PAN_SPEED):  # recorded only when not the default (older datasets stay valid)
        settings["pan_speed"] = speed
    if isinstance(objects, bool) or not isinstance(objects, (int, np.integer)) or objects < 0:
        raise ConfigError(f"demo dataset: objects {objects!r} must be a whole number >= 0 (moving objects per clip)")
    if objects:  # recorded only when used, like pan_speed
        settings["objects"] = int(objects)
    return settings


def _build_split(out: str, split: str, clips: list, settings: dict, progress: bool) -> dict:
    from vsrkit.codec import encode_h264, read_motion, save_motion
    from vsrkit.degrade import imresize
    from vsrkit.data.demo_objects import composite, object_paths, paint_object_flow
    from vsrkit.data.demo_truth import save_true_flow, true_flow, true_flow_path

    scale = settings["scale"]
    records = {}
    photos: dict = {}
    for k, (name, photo_name, seed) in enumerate(clips):
        rng = np.random.default_rng(seed)
        if photo_name not in photos:
            photos[photo_name] = load_photo(photo_name)
        photo = photos[photo_name]
        speed = settings.get("pan_speed", DEFAULT_PAN_SPEED)
        path = camera_path(rng, settings["num_frames"], settings["hr_size"], photo.shape[:2], speed)
        gt = render_clip(photo, settings["hr_size"], *path[:4])
        flows = true_flow(*path[1:4], settings["hr_size"], scale)
        objects = object_paths(rng, settings.get("objects", 0), settings["num_frames"], settings["hr_size"], photo,
                               speed)
        if objects:
            gt = composite(gt, objects)
            paint_object_flow(*flows, objects, scale)
        save_true_flow(true_flow_path(os.path.join(out, split), name), *flows)
        lr = np.stack([imresize(f, 1.0 / scale) for f in gt])
        bitstream = os.path.join(out, split, "bitstreams", f"{name}.mp4")
        enc = encode_h264(lr, bitstream, crf=settings["crf"], preset=settings["preset"], bf=settings["bf"],
                          ref=settings["ref"])
        motion = read_motion(bitstream)
        if motion.num_frames != len(gt):
            raise DataError(f"{bitstream}: decoded {motion.num_frames} frames, encoded {len(gt)}; the encoder "
                            f"dropped frames, rebuild")
        save_motion(os.path.join(out, split, "motion", f"{name}.npz"), motion)
        for sub, frames in (("gt", gt), ("lq", motion.frames)):
            folder = os.path.join(out, split, sub, name)
            os.makedirs(folder, exist_ok=True)
            for i, frame in enumerate(frames):
                _write_png(os.path.join(folder, f"{i:08d}.png"), frame)
        records[name] = {"photo": photo_name, "seed": int(seed), "frame_types": motion.frame_types.tolist(),
                         "camera": path[4], "bitstream_bytes": os.path.getsize(bitstream)}
        if objects:
            records[name]["objects"] = [{"size_px": int(o.alpha.shape[0]),
                                         "velocity_px_per_frame": [round(float(v), 3) for v in o.velocity]}
                                        for o in objects]
        if progress:
            print(f"\r{split}: {k + 1}/{len(clips)} clips", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return {"records": records, "encoder_version": enc.encoder_version, "encoder_options": enc.encoder_options,
            "codec_settings": enc.settings}


def _plan(settings: dict) -> dict:
    """Clip names, photographs and per-clip seeds for both splits (train and val photos are disjoint)."""
    rng = np.random.default_rng(settings["seed"])
    plan = {}
    for split, photos, n in (("train", TRAIN_PHOTOS, settings["num_train_clips"]),
                             ("val", VAL_PHOTOS, settings["num_val_clips"])):
        order = [photos[i] for i in rng.permutation(len(photos))]
        seeds = rng.integers(0, 2 ** 31, size=n)
        plan[split] = [(f"{i:03d}_{order[i % len(order)]}", order[i % len(order)], int(seeds[i])) for i in range(n)]
    return plan


def _existing_matches(root: str, settings: dict) -> bool:
    path = os.path.join(root, "manifest.json")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError):
        return False
    return manifest.get("schema") == SCHEMA and manifest.get("settings") == settings and all(
        os.path.isdir(os.path.join(root, split, "lq")) for split in ("train", "val"))


def _remove_stale_tmp(root: str) -> None:
    parent, base = os.path.split(os.path.abspath(root))
    for entry in os.listdir(parent or "."):
        if entry.startswith(base + ".tmp-"):
            pid = entry.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_demo_dataset(root, num_train_clips: int = 24, num_val_clips: int = 4, num_frames: int = 10,
                       hr_size=128, scale: int = 4, crf: float = 25, seed: int = 0, bf: int = 0, ref: int = 1,
                       preset: str = "medium", overwrite: bool = False, progress: bool = False,
                       pan_speed: list[float] | tuple[float, float] | str = DEFAULT_PAN_SPEED,
                       objects: int = 0) -> str:
    """Build (or reuse) the demo dataset at ``root``; returns ``root``.

    Args:
        root: output folder (created; see the module docstring for the layout).
        num_train_clips, num_val_clips: clips per split; validation photos are never used for training.
        num_frames: frames per clip.
        hr_size: HR frame size, int or ``(h, w)``, divisible by ``2 * scale``.
        scale: downsampling factor (BI, MATLAB-exact bicubic).
        crf, preset, bf, ref: libx264 settings (``bf=0, ref=1``: every motion vector points at frame t-1; x264's
            own defaults, as in most real videos, are ``bf=3, ref=3``).
        seed: everything (photo order, camera paths) derives from it; same seed, same dataset. Datasets built with
            the same seed and sizes but another ``crf`` hold the same HR and LR frames, compressed differently.
        pan_speed: ``[low, high]`` camera pan speed in HR px/frame (default 0.5-6); e.g. ``[4, 12]`` for fast
            motion (1-3 LR px/frame at x4), or a name of :data:`CAMERA_SPEEDS` (``demo``, ``fast``); the
            settings record the range.
        objects: independently moving objects per clip (default 0): elliptical cut-outs of the clip's photograph,
            each crossing the frame in its own direction at a speed in ``pan_speed``
            (:mod:`vsrkit.data.demo_objects`; occlusions, motion that one camera flow does not describe).
        overwrite: rebuild even if ``root`` holds a dataset built with other settings (a matching dataset is
            always reused).
    Raises:
        ConfigError: bad sizes or counts. DataError: ``root`` holds something else and ``overwrite`` is False.
    """
    root = os.path.abspath(str(root))
    settings = _settings(num_train_clips, num_val_clips, num_frames, hr_size, scale, crf, seed, bf, ref, preset,
                         pan_speed, objects)
    if os.path.exists(root):
        if _existing_matches(root, settings):
            return root
        if not overwrite:
            raise DataError(f"{root}: exists but is not a demo dataset with these settings; delete it, choose "
                            f"another --root, or pass overwrite=True (--overwrite)")
    os.makedirs(os.path.dirname(root) or ".", exist_ok=True)
    _remove_stale_tmp(root)
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.time()
    try:
        plan = _plan(settings)
        from vsrkit.codec.versions import tool_versions

        versions = tool_versions()
        manifest = {"schema": SCHEMA, "tool": "vsrkit.data.demo_builder", "settings": settings,
                    "scale": settings["scale"], "num_frames": settings["num_frames"],
                    "photos": {"train": sorted({p for _, p, _ in plan["train"]}),
                               "val": sorted({p for _, p, _ in plan["val"]})},
                    "versions": versions}
        for split in ("train", "val"):
            result = _build_split(tmp, split, plan[split], settings, progress)
            versions["x264"] = result["encoder_version"]
            split_manifest = {"schema": SCHEMA, "tool": "vsrkit.data.demo_builder", "split": split,
                              "settings": settings, "scale": settings["scale"], "num_frames": settings["num_frames"],
                              "codec": {"name": "h264", "encoder_options": result["encoder_options"]},
                              "photos": manifest["photos"][split], "clips": result["records"],
                              "versions": versions}
            write_json_atomic(os.path.join(tmp, split, "manifest.json"), split_manifest)
            manifest.setdefault("clips", {})[split] = sorted(result["records"])
        manifest["build_seconds"] = round(time.time() - start, 2)
        write_json_atomic(os.path.join(tmp, "manifest.json"), manifest)
        replace_dir(tmp, root)  # overwrite: the old dataset is set aside, then dropped once the new one is in
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--root", required=True, help="output folder")
    parser.add_argument("--num-train-clips", type=int, default=24)
    parser.add_argument("--num-val-clips", type=int, default=4)
    parser.add_argument("--num-frames", type=int, default=10)
    parser.add_argument("--hr-size", type=int, nargs="+", default=[128], help="HR size: one value or H W")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--crf", type=float, default=25)
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--bf", type=int, default=0)
    parser.add_argument("--ref", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pan-speed", type=float, nargs=2, default=list(DEFAULT_PAN_SPEED), metavar=("LOW", "HIGH"),
                        help="camera pan speed range, HR px/frame")
    parser.add_argument("--camera-speed", choices=sorted(CAMERA_SPEEDS), default=None,
                        help="a named pan speed range (instead of --pan-speed)")
    parser.add_argument("--objects", type=int, default=0, help="independently moving objects per clip")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    from vsrkit.errors import VsrkitError

    hr = args.hr_size[0] if len(args.hr_size) == 1 else tuple(args.hr_size)
    start = time.time()
    try:
        root = build_demo_dataset(args.root, args.num_train_clips, args.num_val_clips, args.num_frames, hr,
                                  args.scale, args.crf, args.seed, args.bf, args.ref, args.preset,
                                  overwrite=args.overwrite, progress=True,
                                  pan_speed=args.camera_speed or args.pan_speed, objects=args.objects)
    except VsrkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"demo dataset ready at {root} ({time.time() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
