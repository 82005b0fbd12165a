"""RCVSR's coding pipeline on raw YUV 4:2:0 sequences: key frames at full resolution, the others at half resolution.

Three steps, each a folder of ``Name_WxH_N.yuv`` files that :class:`vsrkit.data.mfqe_dataset.MFQEv2Dataset` reads,
plus ``bitstreams/<Name>.hevc`` (the coded streams, whose sizes are the bits of rate-distortion tables) and a
``manifest.json`` (settings, encoder, per-sequence bits):

1. :func:`make_keyframes` -- key frames (index % ``key_interval`` == 0) of the raw sequence, coded at full resolution,
   low-delay P, at the key QP (the LR QP + 5 in the paper: QP 37 for LR QP 32). Output: the decoded key frames only,
   ``Name_WxH_K.yuv`` with ``K = ceil(N / key_interval)`` (``dataroot_key``).
2. :func:`make_lr` -- every other frame downsampled x2 (MATLAB bicubic, per plane) and coded low-delay P at the LR QP
   as one stream of the non-key frames. Output ``Name_(W/2)x(H/2)_N.yuv`` (``dataroot_lq``) holds every frame: the
   decoded LR frames, and in the key-frame slots the decoded key frames of step 1 downscaled the same way (what the
   network's 7-frame window sees there). Bits per sequence = LR stream + key-frame stream.
3. :func:`make_anchor` -- the rate-distortion anchor: the whole raw sequence coded at full resolution, low-delay P, at
   the same QP, by the same encoder. Output: the decoded sequence and ``psnr_y.csv`` (per-frame Y PSNR of the decoded
   frames, mean per sequence, then over sequences; test.py's table format).

Encoders (:mod:`vsrkit.codec.yuv_hevc`): HM when its binary and config are given (or ``TAppEncoder`` is on the PATH),
else the x265 CLI with HM-16.5's LDP QP cascade, recorded in every manifest as an approximation of HM.

Each sequence is written under a temporary name and renamed when complete, so a run can be resumed; an output made
with other settings is refused.
"""
from __future__ import annotations

import json
import os

import numpy as np

from vsrkit.errors import DataError
from vsrkit.fileio import atomic_path, write_json_atomic

MANIFEST = "manifest.json"
TOOL = "vsrkit.data.rcvsr_codec"
#: manifest keys that must agree when an output is resumed
COMPARED = ("step", "qp", "backend", "label", "hm_cfg", "preset", "ref", "key_interval", "scale", "source", "keys")


# ------------------------------------------------------------------------------------------------------ frames
def read_i420(path: str, width: int, height: int, num_frames: int) -> np.ndarray:
    """``(t, h*3/2, w)`` uint8 frames of a raw YUV 4:2:0 file (read-only memory map)."""
    return np.memmap(path, dtype=np.uint8, mode="r", shape=(num_frames, height * 3 // 2, width))


def planes(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``(h*3/2, w)`` I420 frame -> ``(y (h, w), u (h/2, w/2), v (h/2, w/2))``."""
    rows, w = frame.shape
    h = rows * 2 // 3
    chroma = frame[h:].reshape(-1)
    q = (h // 2) * (w // 2)
    return frame[:h], chroma[:q].reshape(h // 2, w // 2), chroma[q:].reshape(h // 2, w // 2)


def join_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Planes -> one ``(h*3/2, w)`` I420 frame."""
    h, w = y.shape
    return np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)


def downscale_i420(frames: np.ndarray, scale: int = 2) -> np.ndarray:
    """Downscale I420 frames by ``scale``: MATLAB ``imresize(plane, 1/scale)`` (bicubic, antialiased, bit-exact)
    on Y, U and V separately. ``(t, h*3/2, w)`` -> ``(t, h/s*3/2, w/s)``; h and w must be multiples of ``2 * s``."""
    from vsrkit.degrade.matlab_resize import imresize

    rows, w = frames.shape[1:]
    h = rows * 2 // 3
    if h % (2 * scale) or w % (2 * scale):
        raise DataError(f"{w}x{h} frames: x{scale} downscaling to 4:2:0 needs sizes that are multiples of "
                        f"{2 * scale}; crop the sequence first")
    return np.stack([join_planes(*(imresize(np.ascontiguousarray(p), 1.0 / scale) for p in planes(f)))
                     for f in frames])


def y_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (peak 255) of the Y planes of two I420 frames, in float (no rounding, no crop)."""
    from vsrkit.metrics import calculate_psnr

    return calculate_psnr(planes(a)[0], planes(b)[0], y_mode="yuv")


# ------------------------------------------------------------------------------------------------------ steps
def key_indices(num_frames: int, key_interval: int) -> list[int]:
    return list(range(0, num_frames, key_interval))


def _sequences(raw_root: str) -> dict[str, tuple[str, int, int, int]]:
    from vsrkit.data.storage import YuvStorage

    if not os.path.isdir(raw_root):
        raise DataError(f"{raw_root}: raw YUV folder not found")
    store = YuvStorage(raw_root)
    clips = store.clips()
    if not clips:
        raise DataError(f"{raw_root}: no Name_WxH_N.yuv files")
    return {c: store.info(c) for c in clips}


def read_manifest_file(root: str, fix: str) -> dict:
    path = os.path.join(root, MANIFEST)
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc}); {fix}") from None
    if not isinstance(data, dict) or data.get("tool") != TOOL:
        raise DataError(f"{path}: not a manifest of {TOOL}; {fix}")
    return data


def _start(output: str, settings: dict) -> None:
    path = os.path.join(output, MANIFEST)
    if os.path.isfile(path):
        old = read_manifest_file(output, f"delete {output} or choose another --output")
        diff = [k for k in COMPARED if old.get(k) != settings.get(k)]
        if diff:
            have = ", ".join(f"{k}={old.get(k)!r}" for k in diff)
            raise DataError(f"{path}: output was made with {have}; choose another --output or delete {output}")
    elif os.path.isdir(output) and any(not e.startswith(".") for e in os.listdir(output)):
        raise DataError(f"{output}: exists, is not empty and has no {MANIFEST}; choose a new or empty --output")
    os.makedirs(os.path.join(output, "bitstreams"), exist_ok=True)
    write_json_atomic(path, {**settings, "complete": False})


def _remove_output(output: str, made_root: bool) -> None:
    """After a failed first run that completed no sequence: remove what it created."""
    import shutil

    shutil.rmtree(os.path.join(output, "bitstreams"), ignore_errors=True)
    for name in os.listdir(output):
        if name == MANIFEST or name.startswith("."):
            os.remove(os.path.join(output, name))
    if made_root and not os.listdir(output):
        os.rmdir(output)


def _write_yuv(output: str, name: str, frames: np.ndarray) -> None:
    with atomic_path(os.path.join(output, name)) as tmp:
        np.ascontiguousarray(frames).tofile(tmp)


def _encode_decode(frames: np.ndarray, bitstream: str, s: dict) -> tuple[np.ndarray, dict]:
    from vsrkit.codec.yuv_hevc import decode_hevc_i420, encode_i420_hevc

    n, rows, w = frames.shape
    info = encode_i420_hevc(frames, bitstream, s["qp"], s["encoder"], preset=s["preset"], ref=s["ref"],
                            threads=s["threads"])
    decoded = decode_hevc_i420(bitstream, w, rows * 2 // 3)
    if len(decoded) != n:
        raise DataError(f"{bitstream}: decoded {len(decoded)} frames, coded {n}; the encoder dropped frames")
    return decoded, info


def _clip_task(task: tuple) -> tuple[str, dict]:
    """Worker: one sequence of one step -> (clip, record); skipped when its record exists (resume)."""
    from vsrkit.data.storage import yuv_file_name

    clip, (path, w, h, n), output, s = task
    record_path = os.path.join(output, "bitstreams", f"{clip}.json")
    if os.path.isfile(record_path):
        with open(record_path) as f:
            return clip, json.load(f)
    raw = read_i420(path, w, h, n)
    bitstream = os.path.join(output, "bitstreams", f"{clip}.hevc")
    keys = key_indices(n, s["key_interval"])
    record = {"frames": n, "source_size": [w, h]}
    if s["step"] == "keyframes":
        decoded, info = _encode_decode(np.asarray(raw[keys]), bitstream, s)
        _write_yuv(output, yuv_file_name(clip, w, h, len(keys)), decoded)
        record.update(size=[w, h], coded_frames=len(keys), bits=info["bits"], frame_qps=info["frame_qps"])
    elif s["step"] == "lr":
        scale = s["scale"]
        key_record = s["key_records"].get(clip)
        if key_record is None:
            raise DataError(f"{s['keys']}: no key frames for sequence '{clip}'; run the keyframes step on the same "
                            f"raw folder")
        key_path = os.path.join(s["keys"], yuv_file_name(clip, w, h, len(keys)))
        if not os.path.isfile(key_path):
            raise DataError(f"{key_path}: decoded key frames missing; re-run the keyframes step")
        lr = downscale_i420(np.asarray(raw), scale)
        others = [i for i in range(n) if i % s["key_interval"]]
        out = np.empty_like(lr)
        bits_lr, qps = 0, None
        if others:
            decoded, info = _encode_decode(lr[others], bitstream, s)
            out[others] = decoded
            bits_lr, qps = info["bits"], info["frame_qps"]
        out[keys] = downscale_i420(np.asarray(read_i420(key_path, w, h, len(keys))), scale)
        _write_yuv(output, yuv_file_name(clip, w // scale, h // scale, n), out)
        record.update(size=[w // scale, h // scale], coded_frames=len(others), bits_lr=bits_lr,
                      bits_key=key_record["bits"], bits=bits_lr + key_record["bits"], frame_qps=qps)
    else:  # anchor
        decoded, info = _encode_decode(np.asarray(raw), bitstream, s)
        _write_yuv(output, yuv_file_name(clip, w, h, n), decoded)
        record.update(size=[w, h], coded_frames=n, bits=info["bits"], frame_qps=info["frame_qps"],
                      psnr_y=[y_psnr(d, r) for d, r in zip(decoded, raw)])
    write_json_atomic(record_path, record)
    return clip, record


def _run(step: str, raw_root: str, output: str, qp: int, encoder: dict, extra: dict, workers: int, progress: bool,
         preset: str, ref: int, threads: int, key_interval: int, scale: int, inputs: dict) -> dict:
    from tqdm import tqdm

    from vsrkit.codec.versions import tool_versions
    from vsrkit.folders import check_separate

    check_separate(output, {"--raw": raw_root, **inputs})
    if not 0 <= int(qp) <= 51:
        raise DataError(f"--qp {qp} is outside [0, 51]")
    if key_interval < 1:
        raise DataError(f"--key-interval must be >= 1, got {key_interval}")
    seqs = _sequences(raw_root)
    settings = {"tool": TOOL, "step": step, "qp": int(qp), "backend": encoder["backend"], "label": encoder["label"],
                "hm_cfg": encoder.get("hm_cfg"), "preset": preset, "ref": int(ref), "key_interval": int(key_interval),
                "scale": int(scale), "source": os.path.realpath(raw_root), "keys": extra.get("keys"),
                "structure": "low-delay P", "versions": tool_versions(), **extra.get("record", {})}
    fresh, made_root = not os.path.isfile(os.path.join(output, MANIFEST)), not os.path.exists(output)
    _start(output, settings)
    s = {**settings, "encoder": encoder, "threads": threads, "key_records": extra.get("key_records", {})}
    tasks = [(clip, info, output, s) for clip, info in seqs.items()]
    records = {}
    bar = tqdm(total=len(tasks), unit="seq", desc=step, disable=not progress)
    try:
        if workers <= 1:
            for task in tasks:
                clip, rec = _clip_task(task)
                records[clip] = rec
                bar.update()
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for clip, rec in pool.imap_unordered(_clip_task, tasks):
                    records[clip] = rec
                    bar.update()
    except BaseException:
        if fresh and not records:
            _remove_output(output, made_root)
        raise
    finally:
        bar.close()
    manifest = {**settings, "clips": {c: records[c] for c in sorted(records)}, "complete": True}
    write_json_atomic(os.path.join(output, MANIFEST), manifest)
    if step == "anchor":
        write_psnr_csv(os.path.join(output, "psnr_y.csv"), manifest["clips"])
    return manifest


def write_psnr_csv(path: str, clips: dict, column: str = "psnr_y") -> None:
    """Per-frame PSNRs -> test.py's table (``clip,<column>`` rows, mean per clip, then the ``average`` row)."""
    from vsrkit.fileio import write_text_atomic
    from vsrkit.metrics import ClipMetrics

    table = ClipMetrics()
    for clip, rec in clips.items():
        for i, value in enumerate(rec["psnr_y"]):
            table.add(clip, column, value, i)
    write_text_atomic(path, table.to_csv())


def make_keyframes(raw_root: str, output: str, qp: int, encoder: dict, key_interval: int = 4, workers: int = 1,
                   progress: bool = True, preset: str = "medium", ref: int = 4, threads: int = 1) -> dict:
    """Step 1 (see the module docstring); returns the manifest written. ``encoder`` from
    :func:`vsrkit.codec.yuv_hevc.resolve_backend`."""
    return _run("keyframes", raw_root, output, qp, encoder, {}, workers, progress, preset, ref, threads,
                key_interval, 1, {})


def make_lr(raw_root: str, keys_root: str, output: str, qp: int, encoder: dict, scale: int = 2,
            key_qp_offset: int | None = 5, workers: int = 1, progress: bool = True, preset: str = "medium",
            ref: int = 4, threads: int = 1) -> dict:
    """Step 2: LR frames at ``qp`` with the key frames of ``keys_root`` (made by :func:`make_keyframes` from the same
    raw folder, with the same encoder, at ``qp + key_qp_offset``; None accepts any key QP)."""
    keys = read_manifest_file(keys_root, "run the keyframes step into it first")
    fix = f"re-run the keyframes step into {keys_root}"
    if keys.get("step") != "keyframes" or not keys.get("complete"):
        raise DataError(f"{keys_root}: not a complete key-frame output (step {keys.get('step')!r}); {fix}")
    if keys["source"] != os.path.realpath(raw_root):
        raise DataError(f"{keys_root}: key frames were made from {keys['source']}, not {raw_root}; {fix}")
    if keys["backend"] != encoder["backend"] or keys.get("hm_cfg") != encoder.get("hm_cfg"):
        raise DataError(f"{keys_root}: key frames were coded with {keys['label']}; code both with the same encoder")
    if key_qp_offset is not None and keys["qp"] != qp + key_qp_offset:
        raise DataError(f"{keys_root}: key frames at QP {keys['qp']}, but LR QP {qp} needs key QP "
                        f"{qp + key_qp_offset} (LR QP + {key_qp_offset}); make them with --qp {qp + key_qp_offset}")
    extra = {"keys": os.path.realpath(keys_root), "key_records": keys["clips"],
             "record": {"key_qp": keys["qp"], "resize": "MATLAB imresize bicubic per plane"}}
    return _run("lr", raw_root, output, qp, encoder, extra, workers, progress, preset, ref, threads,
                keys["key_interval"], scale, {"--keys": keys_root})


def make_anchor(raw_root: str, output: str, qp: int, encoder: dict, workers: int = 1, progress: bool = True,
                preset: str = "medium", ref: int = 4, threads: int = 1) -> dict:
    """Step 3: the full-resolution HEVC anchor at ``qp``, its decoded frames and ``psnr_y.csv``."""
    return _run("anchor", raw_root, output, qp, encoder, {}, workers, progress, preset, ref, threads, 1, 1, {})


def bits_per_frame(record: dict) -> float:
    """Bits per displayed frame of one sequence record (every coded stream counted)."""
    return record["bits"] / max(1, record["frames"])


__all__ = ["make_keyframes", "make_lr", "make_anchor", "downscale_i420", "read_manifest_file", "bits_per_frame",
           "key_indices", "write_psnr_csv"]
