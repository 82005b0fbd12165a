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


@pytest.fixture(autouse=True)
def _restore_vsrkit_logger():
    """A test that runs the trainer in-process points the ``vsrkit`` logger at pytest's captured stdout and stops it
    propagating; later tests (``caplog``) would then see nothing and log to a closed stream. Undo that after each."""
    import logging

    log = logging.getLogger("vsrkit")
    handlers, propagate, level = list(log.handlers), log.propagate, log.level
    yield
    for handler in log.handlers:
        if handler not in handlers:
            handler.close()
    log.handlers[:] = handlers
    log.propagate, log.level = propagate, level
