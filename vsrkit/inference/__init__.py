"""Memory-bounded inference of video SR networks: temporal chunks (with discarded context frames) and spatial
tiles (with overlap, blended or centre-cropped), per-frame motion inputs sliced alongside.

:func:`run_inference` returns the whole output; :func:`iter_inference` yields it chunk by chunk (for long clips);
:func:`iter_inference_frames` does the same over a stream of frames (a video being decoded), holding one chunk.
"""
from vsrkit.inference.runner import (InferenceSettings, count_runs, forward_inputs, iter_inference,
                                     iter_inference_frames, run_inference, to_uint8_frames)
from vsrkit.inference.tiling import axis_weights, chunk_ranges, iter_windows, tile_starts

__all__ = ["InferenceSettings", "axis_weights", "chunk_ranges", "count_runs", "forward_inputs", "iter_inference",
           "iter_inference_frames", "iter_windows", "run_inference", "tile_starts", "to_uint8_frames"]
