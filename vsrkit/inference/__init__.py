"""Memory-bounded inference of video SR networks: temporal chunks (with discarded context frames) and spatial
tiles (with overlap, blended or centre-cropped), per-frame motion inputs sliced alongside.

:func:`run_inference` returns the whole output; :func:`iter_inference` yields it chunk by chunk (for long clips).
"""
from vsrkit.inference.runner import (InferenceSettings, count_runs, forward_inputs, iter_inference, run_inference,
                                     to_uint8_frames)
from vsrkit.inference.tiling import axis_weights, chunk_ranges, tile_starts

__all__ = ["InferenceSettings", "axis_weights", "chunk_ranges", "count_runs", "forward_inputs", "iter_inference",
           "run_inference", "tile_starts", "to_uint8_frames"]
