"""Custom operators. Import the subpackages you need (e.g. ``vsrkit.ops.dcn``); nothing here compiles or touches CUDA."""
