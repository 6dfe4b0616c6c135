"""Gen3 + LEAP motion planning: robot description, collision checking, IK, OMPL paths, toppra timing,
independent validation and pick sequences for ranked grasp candidates. No ROS imports."""

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
from flash_core.planning.pick import (
    GraspCandidate,
    MotionPlanner,
    MoveItPyPlanner,
    OmplPlanner,
    PickConfig,
    PickPlan,
    PickResult,
    PlanSegment,
)
from flash_core.planning.robot_model import HOME_ARM_Q_RAD, RobotModel, RobotModelConfig
from flash_core.planning.scene import Scene, SceneConfig, TableConfig
from flash_core.planning.trajectory import JointTrajectory
from flash_core.planning.validate import ValidationConfig, ValidationReport, validate_trajectory

__all__ = [
    "ARM_JOINT_NAMES", "HAND_JOINT_NAMES", "HOME_ARM_Q_RAD", "AssemblyConfig", "CollisionChecker",
    "CollisionConfig", "GraspCandidate", "HandMount", "IKConfig", "JointTrajectory", "MotionPlanner",
    "MoveItPyPlanner", "OmplPlanner", "PickConfig", "PickPlan", "PickResult", "PlanSegment", "RobotModel",
    "RobotModelConfig", "Scene", "SceneConfig", "TableConfig", "ValidationConfig", "ValidationReport",
    "assembly_spec", "solve_ik", "validate_trajectory", "write_robot_description",
]
