"""MuJoCo pictures and depth cameras, ROS-free: `render` (offscreen images of grasps, the OpenGL context),
`depth_camera` (pinhole depth images and point clouds).

`require_mujoco` is the one loader of MuJoCo for these, the simulator (flash_sim) and the grasp evaluation, so a
missing install is reported the same way everywhere, with the release requirements/core.txt pins.
"""

from __future__ import annotations

from types import ModuleType

from flash_core.utils.require import require_package


def require_mujoco() -> ModuleType:
    """The `mujoco` module, or MissingDependencyError saying how to install it."""
    return require_package("mujoco", feature="MuJoCo simulation and rendering",
                           install_hint="pip install mujoco==4.0.0")
