"""Shared pytest setup: headless rendering, deterministic torch on few threads."""

import os

# MuJoCo picks its OpenGL platform when first imported, and many modules import it: choose the
# headless EGL platform before any of them does (CI has no display).
os.environ.setdefault("MUJOCO_GL", "egl")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _torch_defaults():
    # One thread: on the 2-core CI machine the ROS tests' node processes share the cores, and two torch threads
    # against a busy core ran small batches up to 50x slower (measured); on a quiet machine the data, model and
    # hand tests take the same time with 1 or 2 threads (39 vs 38 s).
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
