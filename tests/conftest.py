"""Shared pytest setup: deterministic torch on few threads, a private cache per run when asked."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _torch_defaults():
    # The CI machine has 2 cores; more threads only add contention between test processes.
    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield
