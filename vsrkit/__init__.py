"""vsrkit: a unified PyTorch framework for (compressed) video super-resolution.

Importing this package is cheap: it imports no network, initialises no CUDA and compiles nothing.
"""
__version__ = "0.1.0"
