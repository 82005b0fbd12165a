"""Frame storage backends: one small API over PNG folders, LMDB files and raw YUV 4:2:0 files.

Every dataset reads frames through a :class:`FrameStorage`, chosen by the ``io_backend`` option::

    io_backend: {type: disk}                 # <root>/<clip>/00000000.png ... (any sorted image names, e.g. im1..im7)
    io_backend: {type: lmdb}                 # <root> is X.lmdb: data.mdb + meta_info.txt, keys 'clip/00000000'
    io_backend: {type: yuv, color: rgb}      # <root>/<Name>_<W>x<H>_<N>.yuv, raw 8-bit 4:2:0 (color: rgb | y)
    io_backend: {type: raw}                  # <root>/<clip>.npy memory-mapped (t,h,w,c) uint8 (storage_raw.py)

A clip is a name relative to the root (``calendar``, ``000``, ``00001/0001``); frames are addressed by their 0-based
position in the clip. ``read(clip, index)`` returns ``(h, w, 3)`` uint8 RGB (``(h, w, 1)`` uint8 for ``color: y``).
Bad data raises :class:`vsrkit.errors.DataError` with one line naming the file (or LMDB and key) and the fix.
"""
from __future__ import annotations

import os
import re
from typing import Iterable

import cv2
import numpy as np

from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import atomic_path, write_bytes_atomic

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
LMDB_META = "meta_info.txt"
_LMDB_ENVS: dict = {}  # (pid, real path) -> open read-only lmdb.Environment
YUV_NAME = re.compile(r"^(?P<name>.+?)_(?P<w>\d+)x(?P<h>\d+)(?:_(?P<n>\d+))?\.yuv$")


# --------------------------------------------------------------------------------------------------- image codecs
def decode_image(data: bytes, source: str) -> np.ndarray:
    """Decode PNG/JPEG bytes to ``(h, w, 3)`` uint8 RGB (gray images are repeated to 3 channels).

    ``source`` names the file or LMDB key in the error raised for truncated or corrupt data.
    """
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if img is None:
        raise DataError(f"{source}: cannot decode image (truncated or corrupt); re-create or re-download it")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def png_shape(data: bytes, source: str) -> tuple[int, int, int]:
    """``(h, w, 3)`` of PNG bytes from the IHDR header, after checking the file ends with the IEND chunk (a cheap
    truncation check; corruption inside is only found by decoding). Raises DataError naming ``source``."""
    if len(data) < 33 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise DataError(f"{source}: not a PNG file (bad signature or header); re-create it")
    if not data.endswith(PNG_IEND):
        raise DataError(f"{source}: PNG is truncated (no IEND chunk at the end); re-create or re-download it")
    return int.from_bytes(data[20:24], "big"), int.from_bytes(data[16:20], "big"), 3


def encode_png(frame: np.ndarray, compression: int = 1) -> bytes:
    """Encode an ``(h, w, 3)`` uint8 RGB (or ``(h, w)`` gray) frame as PNG bytes (zlib level ``compression``)."""
    img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 and frame.shape[2] == 3 else frame
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise DataError(f"cannot encode a frame of shape {frame.shape} as PNG")
    return buf.tobytes()


def write_png(path: str, frame: np.ndarray, compression: int = 1) -> None:
    """Write an RGB uint8 frame to ``path`` atomically (temporary name in the same folder, then ``os.replace``)."""
    write_bytes_atomic(path, encode_png(frame, compression))


def read_png(path: str) -> np.ndarray:
    """Read an image file to ``(h, w, 3)`` uint8 RGB; truncated/corrupt/missing files raise DataError naming it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: frame file not found; check the dataset folder") from None
    return decode_image(data, path)


# --------------------------------------------------------------------------------------------------- YUV colour
def yuv420_to_rgb(i420: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(h*3/2, w)`` uint8 I420 plane stack -> ``(h, w, 3)`` uint8 RGB, BT.601 limited range (as OpenCV's
    ``COLOR_YUV2RGB_I420``: Y 16 -> 0, 235 -> 255, nearest chroma upsampling)."""
    return cv2.cvtColor(np.ascontiguousarray(i420).reshape(height * 3 // 2, width), cv2.COLOR_YUV2RGB_I420)


def rgb_to_yuv420(frame: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB -> flat I420 bytes ``(h*w*3/2,)`` uint8, BT.601 limited range, chroma averaged over
    each 2x2 block (``vsrkit.codec.yuv``, the conversion every encoder of the project uses)."""
    from vsrkit.codec.yuv import rgb_to_yuv420p, yuv420p_to_i420

    return yuv420p_to_i420(*rgb_to_yuv420p(frame)).reshape(-1)


def yuv_file_name(name: str, width: int, height: int, num_frames: int | None = None) -> str:
    """MFQEv2-style file name ``Name_WxH_N.yuv`` (``Name_WxH.yuv`` when ``num_frames`` is None)."""
    return f"{name}_{width}x{height}" + (f"_{num_frames}" if num_frames is not None else "") + ".yuv"


def write_yuv420(path: str, frames: Iterable[np.ndarray]) -> int:
    """Write RGB uint8 frames as raw 8-bit 4:2:0 (``vsrkit.codec.yuv.write_yuv420p``) to a temporary name, then
    rename to ``path``; returns the frame count."""
    from vsrkit.codec.yuv import write_yuv420p

    with atomic_path(path) as tmp:
        count, _, _ = write_yuv420p(tmp, frames)
    return count


# --------------------------------------------------------------------------------------------------- backends
class FrameStorage:
    """Read-only frames by ``(clip, index)``. Subclasses implement the four methods below."""

    kind = "base"

    def __init__(self, root: str):
        self.root = os.fspath(root)

    def clips(self) -> list[str]:
        """All clip names in the storage, sorted."""
        raise NotImplementedError

    def num_frames(self, clip: str) -> int:
        """Number of frames of ``clip``; an unknown clip raises DataError."""
        raise NotImplementedError

    def read(self, clip: str, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) of ``clip``: ``(h, w, c)`` uint8."""
        raise NotImplementedError

    def describe(self, clip: str) -> str:
        """Where ``clip`` lives (folder, LMDB prefix or file), for messages."""
        raise NotImplementedError

    def read_many(self, clip: str, indices: Iterable[int]) -> list[np.ndarray]:
        return [self.read(clip, int(i)) for i in indices]

    def _check_index(self, clip: str, index: int) -> None:
        n = self.num_frames(clip)
        if not 0 <= index < n:
            raise DataError(f"{self.describe(clip)}: frame {index} requested but the clip has {n} frames")


class DiskStorage(FrameStorage):
    """Image files: ``<root>/<clip>/<frames>``; frame i is the i-th file in sorted name order.

    With 8-digit names (``00000000.png``) and Vimeo's ``im1..im7`` the sorted order is the frame order.
    """

    kind = "disk"

    def __init__(self, root: str):
        super().__init__(root)
        self._files: dict[str, list[str]] = {}

    def frame_files(self, clip: str) -> list[str]:
        if clip not in self._files:
            folder = os.path.join(self.root, clip)
            if not os.path.isdir(folder):
                raise DataError(f"{folder}: clip folder not found; check the dataset root and meta-info file")
            names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
            self._files[clip] = [os.path.join(folder, n) for n in names]
        return self._files[clip]

    def clips(self) -> list[str]:
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            if any(n.lower().endswith(IMAGE_EXTENSIONS) for n in filenames):
                found.append(os.path.relpath(dirpath, self.root).replace(os.sep, "/"))
        return sorted(found)

    def num_frames(self, clip: str) -> int:
        return len(self.frame_files(clip))

    def frame_shape(self, clip: str, index: int = 0) -> tuple[int, int, int]:
        """``(h, w, 3)`` of a frame as read (always RGB), from the PNG header alone when possible."""
        self._check_index(clip, index)
        path = self.frame_files(clip)[index]
        with open(path, "rb") as f:
            head = f.read(24)
        if head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR":
            return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big"), 3
        return tuple(int(v) for v in self.read(clip, index).shape)

    def read(self, clip: str, index: int) -> np.ndarray:
        self._check_index(clip, index)
        return read_png(self.frame_files(clip)[index])

    def describe(self, clip: str) -> str:
        return os.path.join(self.root, clip)


def lmdb_key(clip: str, index: int) -> str:
    """LMDB key of frame ``index`` of ``clip``: ``clip/00000000``."""
    return f"{clip}/{index:08d}"


def parse_lmdb_meta(path: str) -> list[tuple[str, tuple[int, int, int], str]]:
    """Read an LMDB ``meta_info.txt``: lines ``key (h,w,c) compression`` (compression ``png`` or ``raw``)."""
    entries = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                key, shape, compression = parts[0], parts[1], parts[2]
                dims = tuple(int(v) for v in shape.strip("()").split(","))
                if len(dims) != 3:
                    raise ValueError
            except (IndexError, ValueError):
                raise DataError(f"{path}:{lineno}: expected 'key (h,w,c) compression', got {line.strip()!r}; "
                                f"re-create the LMDB with scripts/make_lmdb.py") from None
            entries.append((key, dims, compression))
    return entries


class LmdbStorage(FrameStorage):
    """An LMDB made by ``scripts/make_lmdb.py``: ``data.mdb`` + ``meta_info.txt``, keys ``clip/00000000``.

    Values are PNG bytes (compression ``png``) or raw ``h*w*c`` uint8 RGB (``raw``). The environment is opened
    lazily, read-only and without locking, once per process (safe with DataLoader workers).
    """

    kind = "lmdb"

    def __init__(self, root: str):
        super().__init__(root)
        meta = os.path.join(self.root, LMDB_META)
        if not os.path.isfile(os.path.join(self.root, "data.mdb")) or not os.path.isfile(meta):
            raise DataError(f"{self.root}: not an LMDB made by scripts/make_lmdb.py (needs data.mdb and "
                            f"{LMDB_META}); run scripts/make_lmdb.py --input FOLDER --output {self.root}")
        self._meta: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._counts: dict[str, int] = {}
        for key, shape, compression in parse_lmdb_meta(meta):
            self._meta[key] = (shape, compression)
            clip = key.rsplit("/", 1)[0]
            self._counts[clip] = self._counts.get(clip, 0) + 1
        self._env = None
        self._pid = None

    def _txn_get(self, key: str) -> bytes | None:
        return self._txn_get_many([key])[0]

    def _txn_get_many(self, keys: list[str]) -> list[bytes | None]:
        import lmdb

        if self._env is None or self._pid != os.getpid():
            # py-lmdb refuses to open one environment twice in a process: share it between storages
            cache_key = (os.getpid(), os.path.realpath(self.root))
            if cache_key not in _LMDB_ENVS:
                for other in [k for k in _LMDB_ENVS if k[0] != cache_key[0]]:
                    # inherited through fork (DataLoader workers): unusable here and blocks a re-open; release it
                    env = _LMDB_ENVS.pop(other)
                    try:
                        env.close()
                    except lmdb.Error:
                        pass
                _LMDB_ENVS[cache_key] = lmdb.open(self.root, readonly=True, lock=False, readahead=False,
                                                  meminit=False, max_readers=512)
            self._env, self._pid = _LMDB_ENVS[cache_key], os.getpid()
        with self._env.begin(write=False) as txn:
            return [txn.get(k.encode("ascii")) for k in keys]

    def clips(self) -> list[str]:
        return sorted(self._counts)

    def num_frames(self, clip: str) -> int:
        if clip not in self._counts:
            raise DataError(f"{self.root}: no keys for clip '{clip}' in {LMDB_META}; check the clip name")
        return self._counts[clip]

    def read(self, clip: str, index: int) -> np.ndarray:
        key = lmdb_key(clip, index)
        return self._decode(key, self._txn_get(key))

    def read_many(self, clip: str, indices) -> list[np.ndarray]:
        """Several frames of one clip in a single read transaction."""
        keys = [lmdb_key(clip, int(i)) for i in indices]
        return [self._decode(k, v) for k, v in zip(keys, self._txn_get_many(keys))]

    def _decode(self, key: str, data: bytes | None) -> np.ndarray:
        if data is None:
            raise DataError(f"{self.root}: key '{key}' not found in the LMDB; re-create it with "
                            f"scripts/make_lmdb.py or fix the meta-info file")
        shape, compression = self._meta.get(key, ((0, 0, 0), "png"))
        if compression == "raw":
            if len(data) != shape[0] * shape[1] * shape[2]:
                raise DataError(f"{self.root}: key '{key}' holds {len(data)} bytes, expected {shape}; "
                                f"re-create the LMDB")
            return np.frombuffer(data, np.uint8).reshape(shape).copy()
        return decode_image(data, f"{self.root}: key '{key}'")

    def describe(self, clip: str) -> str:
        return f"{self.root}:{clip}"

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_env"] = None
        state["_pid"] = None
        return state


class YuvStorage(FrameStorage):
    """Raw 8-bit YUV 4:2:0 files ``<root>/<Name>_<W>x<H>_<N>.yuv`` (``_<N>`` optional); the clip is ``Name``.

    The file size must be exactly ``N * W * H * 3/2`` bytes (N from the name, or the size must be a whole number of
    frames when N is absent); otherwise DataError names the file. ``color='rgb'`` converts with BT.601 limited range
    (OpenCV ``COLOR_YUV2RGB_I420``) -> ``(h, w, 3)``; ``color='y'`` returns the native Y plane ``(h, w, 1)``.
    """

    kind = "yuv"

    def __init__(self, root: str, color: str = "rgb"):
        super().__init__(root)
        if color not in ("rgb", "y"):
            raise ConfigError(f"io_backend.color: '{color}' is not one of rgb, y")
        self.color = color
        self._files: dict[str, tuple[str, int, int, int | None]] | None = None
        self._checked: dict[str, int] = {}
        self._maps: dict[str, np.memmap] = {}
        self._pid = None

    def _index(self) -> dict[str, tuple[str, int, int, int | None]]:
        if self._files is None:
            files = {}
            for name in sorted(os.listdir(self.root)):
                if not name.endswith(".yuv"):
                    continue
                m = YUV_NAME.match(name)
                if m is None:
                    raise DataError(f"{os.path.join(self.root, name)}: YUV file name must be Name_WxH_N.yuv "
                                    f"(or Name_WxH.yuv); rename it")
                n = int(m["n"]) if m["n"] else None
                if m["name"] in files:
                    raise DataError(f"{self.root}: two YUV files for clip '{m['name']}'; keep one")
                files[m["name"]] = (os.path.join(self.root, name), int(m["w"]), int(m["h"]), n)
            self._files = files
        return self._files

    def info(self, clip: str) -> tuple[str, int, int, int]:
        """``(path, width, height, num_frames)`` of a clip, after checking the file size against the name."""
        files = self._index()
        if clip not in files:
            raise DataError(f"{self.root}: no YUV file for clip '{clip}' (expected {clip}_WxH_N.yuv)")
        path, w, h, n = files[clip]
        if clip not in self._checked:
            if w % 2 or h % 2:
                raise DataError(f"{path}: 4:2:0 needs an even frame size, the name says {w}x{h}")
            frame_bytes = w * h * 3 // 2
            size = os.path.getsize(path)
            if n is None:
                if size == 0 or size % frame_bytes:
                    raise DataError(f"{path}: {size} bytes is not a whole number of {w}x{h} 4:2:0 frames "
                                    f"({frame_bytes} bytes each); the file is truncated or the name is wrong")
                n = size // frame_bytes
            elif size != n * frame_bytes:
                what = "truncated" if size < n * frame_bytes else "larger than its name says"
                raise DataError(f"{path}: {size} bytes but the name says {n} frames of {w}x{h} 4:2:0 "
                                f"({n * frame_bytes} bytes); the file is {what}: re-create it or fix the name")
            self._checked[clip] = n
        return path, w, h, self._checked[clip]

    def clips(self) -> list[str]:
        return sorted(self._index())

    def num_frames(self, clip: str) -> int:
        return self.info(clip)[3]

    def frame_size(self, clip: str) -> tuple[int, int]:
        """``(width, height)`` of a clip from its file name."""
        _, w, h, _ = self.info(clip)
        return w, h

    def read_i420(self, clip: str, index: int) -> np.ndarray:
        """The raw ``(h*3/2, w)`` uint8 plane stack of one frame (Y rows, then U and V)."""
        path, w, h, n = self.info(clip)
        self._check_index(clip, index)
        if self._pid != os.getpid():
            self._maps, self._pid = {}, os.getpid()
        if clip not in self._maps:
            self._maps[clip] = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, h * 3 // 2, w))
        return np.asarray(self._maps[clip][index])

    def read(self, clip: str, index: int) -> np.ndarray:
        i420 = self.read_i420(clip, index)
        _, w, h, _ = self.info(clip)
        if self.color == "y":
            return i420[:h].copy()[..., None]
        return yuv420_to_rgb(i420, w, h)

    def describe(self, clip: str) -> str:
        files = self._index()
        return files[clip][0] if clip in files else os.path.join(self.root, clip)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_maps"] = {}
        state["_pid"] = None
        return state


BACKENDS = {"disk": DiskStorage, "lmdb": LmdbStorage, "yuv": YuvStorage}
#: backends in modules of their own, imported when first named: they add themselves to BACKENDS
LAZY_BACKENDS = {"raw": "vsrkit.data.storage_raw"}


def open_storage(root: str, io_backend: dict | None = None, option: str = "dataroot") -> FrameStorage:
    """Open ``root`` with the backend named by ``io_backend['type']`` (default ``disk``).

    ``option`` is the option key that gave ``root`` (e.g. ``datasets.train.dataroot_gt``), named in the error when
    the path does not exist.
    """
    cfg = dict(io_backend or {"type": "disk"})
    kind = cfg.pop("type", "disk")
    if kind not in BACKENDS and kind in LAZY_BACKENDS:
        import importlib

        importlib.import_module(LAZY_BACKENDS[kind])
    if kind not in BACKENDS:
        names = list(BACKENDS) + [k for k in LAZY_BACKENDS if k not in BACKENDS]
        raise ConfigError(f"io_backend.type: unknown backend '{kind}'; use one of {', '.join(names)}")
    if root is None or not os.path.exists(root):
        raise DataError(f"{option}: {root} does not exist; fix the path or prepare the dataset first")
    allowed = {"yuv": {"color"}}.get(kind, set())
    unknown = set(cfg) - allowed
    if unknown:
        raise ConfigError(f"io_backend: unknown key(s) {', '.join(sorted(unknown))} for type '{kind}'"
                          f"{'; allowed: ' + ', '.join(sorted(allowed)) if allowed else ''}")
    return BACKENDS[kind](root, **cfg)
