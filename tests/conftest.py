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
