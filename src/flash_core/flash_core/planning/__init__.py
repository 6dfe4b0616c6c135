"""Gen3 + LEAP motion planning: robot description, collision checking, IK, OMPL paths, toppra timing,
independent validation and pick sequences for ranked grasp candidates. No ROS imports.

    from flash_core.planning import HOME_ARM_Q_RAD, GraspCandidate, OmplPlanner

    planner = OmplPlanner()                                  # loads the models once (~1 s)
    # or make_planner("moveit"): flash_motion's MoveItPyPlanner on ROS 2 Jazzy + MoveIt 2 (moveit_py), same types
    candidates = [GraspCandidate.from_named_joints(T_base_palm, ["0", ..., "15"], q) for T_base_palm, q in ranked]
    result = planner.plan_pick(candidates, object_points_base_m, HOME_ARM_Q_RAD)
    if result.success:
        for segment in result.plan.segments:                 # open_hand, to_pregrasp, approach, close_hand, ...
            segment.trajectory                               # JointTrajectory: arm (7) or hand (16) joints
    else:
        print(result.rejected)                               # [(candidate index, reason), ...]

Frames and units: poses are (4, 4) transforms of the LEAP `palm` frame in the Gen3 `base_link` frame, metres and
radians; the object cloud is (N, 3) in `base_link`.
"""

from flash_core.planning.backends import PLANNER_NAMES, make_planner
from flash_core.planning.collision import CollisionChecker, CollisionConfig
from flash_core.planning.description import (
    ARM_JOINT_NAMES,
    HAND_JOINT_NAMES,
    AssemblyConfig,
    HandMount,
    assembly_spec,
    write_robot_description,
)
from flash_core.planning.ik import IKConfig, solve_ik
from flash_core.planning.ompl_backend import OmplPlanner
from flash_core.planning.pick import GraspCandidate, MotionPlanner, PickConfig, PickPlan, PickResult, PlanSegment
from flash_core.planning.robot_model import HOME_ARM_Q_RAD, RobotModel, RobotModelConfig
from flash_core.planning.scene import Scene, SceneConfig, TableConfig
from flash_core.planning.trajectory import JointTrajectory
from flash_core.planning.validate import ValidationConfig, ValidationReport, validate_trajectory

__all__ = [
    "ARM_JOINT_NAMES", "HAND_JOINT_NAMES", "HOME_ARM_Q_RAD", "PLANNER_NAMES", "AssemblyConfig", "CollisionChecker",
    "CollisionConfig", "GraspCandidate", "HandMount", "IKConfig", "JointTrajectory", "MotionPlanner",
    "OmplPlanner", "PickConfig", "PickPlan", "PickResult", "PlanSegment",
    "RobotModel", "RobotModelConfig", "Scene", "SceneConfig", "TableConfig", "ValidationConfig", "ValidationReport",
    "assembly_spec", "make_planner", "solve_ik", "validate_trajectory", "write_robot_description",
]
