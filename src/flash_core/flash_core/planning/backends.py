"""The pick planner by name, for nodes and commands that let the user choose the backend."""

from __future__ import annotations

from flash_core.planning.pick import MotionPlanner, PickConfig

PLANNER_NAMES = ("ompl", "moveit")


def make_planner(name: str, config: PickConfig | None = None) -> MotionPlanner:
    """"ompl": OmplPlanner (PyPI packages, runs anywhere); "moveit": flash_motion's MoveItPyPlanner (ROS 2 Jazzy +
    MoveIt 2, fails with a clear MissingDependencyError elsewhere).

    The MoveIt backend plans through ROS, so it lives in the flash_motion package and is imported only here, when
    asked for: this core package never imports it (nor rclpy or moveit_py) on its own.
    """
    if name == "ompl":
        from flash_core.planning.ompl_backend import OmplPlanner

        return OmplPlanner(config)
    if name == "moveit":
        from flash_core.utils.require import require_package

        moveit_backend = require_package(
            "flash_motion.moveit_backend", feature="The MoveIt planner (planner 'moveit')",
            install_hint="pip install -e src/flash_motion (scripts/setup.sh does), or colcon build this workspace "
                         "and source install/setup.bash")
        return moveit_backend.MoveItPyPlanner(config)
    raise ValueError(f"planner must be one of {PLANNER_NAMES}, got '{name}'")
