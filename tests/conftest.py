"""Every test starts from the same random state, whatever ran before it, so a result never depends on test order
or on which tests were selected (a tolerance that holds for one random draw is not silently tested on another)."""
import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fixed_random_state():
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


def _reset_vsrkit_logger():
    """Put the ``vsrkit`` logger back to what importing vsrkit gives: no handlers, propagating, level unset."""
    import logging

    log = logging.getLogger("vsrkit")
    for handler in list(log.handlers):
        handler.close()
    log.handlers.clear()
    log.propagate, log.level = True, logging.NOTSET


@pytest.fixture(autouse=True)
def _pristine_vsrkit_logger():
    """A run of the trainer in-process (in a test, or in a module-scoped fixture that ran before this test) points
    the ``vsrkit`` logger at pytest's captured stdout and stops it propagating; ``caplog`` would then see nothing.
    Every test starts and ends with the logger as importing vsrkit leaves it."""
    _reset_vsrkit_logger()
    yield
    _reset_vsrkit_logger()
