"""Data: storage backends (disk PNG, LMDB, raw YUV), crop/augment transforms that keep motion consistent,
frame-index generation and the dataset families (``*_dataset.py``, registered in ``vsrkit.registry.DATASETS``).

Nothing is imported here so that ``import vsrkit.data`` stays cheap; datasets are discovered lazily by the registry.
"""
