"""Networks. One file per method (``*_arch.py``, registered in ``vsrkit.registry.ARCHS`` and discovered lazily);
shared building blocks in :mod:`vsrkit.archs.blocks`, SPyNet in :mod:`vsrkit.archs.spynet`."""
