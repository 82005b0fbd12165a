"""Launch level: the training run and the test run, above models (training logic) and engine (the loop's parts).

Imports go one way: ``launch`` -> ``models`` -> ``engine``/``inference``/``archs``; nothing imports ``launch`` but
the launchers ``vsrkit/train.py`` and ``vsrkit/test.py``.
"""
