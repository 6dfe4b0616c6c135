"""Shared pytest setup: headless rendering, deterministic torch on few threads."""

import os

# MuJoCo picks its OpenGL platform when first imported, and many modules import it: choose the
# headless EGL platform before any of them does (CI has no display).
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _torch_defaults():
    # The CI machine has 2 cores; more threads only add contention between test processes.
    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield
