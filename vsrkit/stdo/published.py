"""STDO's published PSNR table (methods.md section 5), printed beside results on VSD4K videos."""
from __future__ import annotations

import re

#: method -> video -> (x2, x3, x4) dB; STDO's game15s x3 (37.04) is lower than every baseline (likely a typo)
TABLE = {
    "awDNN": {"game_15s": (43.36, 37.12, 34.62), "inter_15s": (44.83, 39.05, 35.23), "vlog_15s": (49.24, 45.30, 43.33)},
    "NAS": {"game_15s": (44.17, 38.23, 36.02), "inter_15s": (45.43, 39.71, 36.54), "vlog_15s": (49.98, 45.63, 43.51)},
    "CaFM": {"game_15s": (44.23, 38.55, 36.30), "inter_15s": (45.71, 39.92, 36.87), "vlog_15s": (50.12, 45.87, 43.79)},
    "STDO": {"game_15s": (45.75, 37.04, 38.62), "inter_15s": (46.34, 41.13, 38.76), "vlog_15s": (50.58, 46.43, 44.62)},
}


def vsd4k_video(name: str) -> str | None:
    """The published video a name refers to (``game_15s``, ``game15s``, ``vlog_15s_x2``...) or None."""
    m = re.match(r"^(game|inter|vlog)_?15s(?:$|[_\-.])", name.lower())
    return f"{m.group(1)}_15s" if m else None


def published_rows(video: str, scale: int) -> list[tuple[str, float]]:
    """``[(method, dB)]`` for ``video`` at ``scale``, empty when the paper has no number for it."""
    key = vsd4k_video(video)
    if key is None or scale not in (2, 3, 4):
        return []
    return [(method, per_video[key][scale - 2]) for method, per_video in TABLE.items()]


def published_markdown(video: str, scale: int) -> str:
    rows = published_rows(video, scale)
    if not rows:
        return ""
    key = vsd4k_video(video)
    lines = [f"Published (STDO paper, {key} x{scale}; STDO's protocol, methods.md section 5):", "",
             "| method | PSNR (dB) |", "|---|---|"]
    lines += [f"| {m} | {v:.2f}{' (typo?)' if (m, key, scale) == ('STDO', 'game_15s', 3) else ''} |"
              for m, v in rows]
    return "\n".join(lines) + "\n"
