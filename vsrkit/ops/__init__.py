"""Custom operators. Import the subpackage you need (e.g. ``vsrkit.ops.dcn``).

Nothing here compiles anything or touches CUDA at import.
"""
