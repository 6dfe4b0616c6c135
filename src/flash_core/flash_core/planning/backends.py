"""The pick planner by name, for nodes and commands that let the user choose the backend."""

from __future__ import annotations

from flash_core.planning.pick import MotionPlanner, PickConfig

PLANNER_NAMES = ("ompl", "moveit")


def make_planner(name: str, config: PickConfig | None = None) -> MotionPlanner:
    """"ompl": OmplPlanner (PyPI packages, runs anywhere); "moveit": MoveItPyPlanner (ROS 2 Jazzy + MoveIt 2,
    fails with a clear MissingDependencyError elsewhere)."""
    if name == "ompl":
        from flash_core.planning.ompl_backend import OmplPlanner

        return OmplPlanner(config)
    if name == "moveit":
        from flash_core.planning.moveit_backend import MoveItPyPlanner

        return MoveItPyPlanner(config)
    raise ValueError(f"planner must be one of {PLANNER_NAMES}, got '{name}'")
