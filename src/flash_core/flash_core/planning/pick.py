"""Pick sequences for ranked grasp candidates, as MoveIt's pick pipeline stages them.

For each candidate (best first) until one is feasible:
  1. open_hand    hand from its current joints to the approach shape: open, or the grasp's pre-grasp shape;
  2. to_pregrasp  OMPL joint path to the pre-grasp: the grasp pose backed off along the palm normal;
  3. approach     straight Cartesian line (1 mm IK steps) pre-grasp -> grasp, hand in the approach shape;
  4. close_hand   approach shape -> the grasp joints and `squeeze_fraction` beyond (arm still): a position-
                  controlled hand presses on the object only where its target lies inside it, so closing exactly
                  to the contact pose would hold with no force (DexGraspBench squeezes to 1.1x the grasp);
                  limiting the current is the driver's job;
  5. lift         straight line up by lift_m, hand closed;
  6. retreat      OMPL joint path to the retreat configuration (default: where the arm started), or, with
                  `retreat_to_start` off, a hold where the lift ended: the joint path back turns the carried object
                  with the hand, and a grasp that holds against gravity in the grasp's own orientation need not in
                  another.

Allowed contacts (documented choice): the hand may touch the object in approach, close_hand and lift, where
the fingers are meant to reach it; the arm links may never touch it; nothing may touch the table. From the
grasp on the object is attached: its cloud, fixed in the hand-root frame at the grasp pose, is kept off the
obstacles in the lift and off the obstacles and the table in the retreat (planned without the object left
behind in the scene). Every segment is time-parameterised and then re-checked by `validate_trajectory`;
a candidate failing any step is rejected with the reason.

This module holds the types every backend shares (candidates, config, plans, results, the segment layout);
`pick_stages` the stage geometry, the candidate loop and the validation; `ompl_backend.OmplPlanner` and
`flash_motion.moveit_backend.MoveItPyPlanner` (ROS-bound, so outside this package) the two backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from flash_core.planning.cartesian import CartesianConfig, CartesianPathError
from flash_core.planning.collision import CollisionConfig
from flash_core.planning.description import hand_joint_order
from flash_core.planning.ik import IKConfig, check_pose
from flash_core.planning.joint_path import JointPathConfig, JointPathError
from flash_core.planning.robot_model import RobotModelConfig
from flash_core.planning.scene import SceneConfig
from flash_core.planning.timing import TimingConfig
from flash_core.planning.trajectory import JointTrajectory
from flash_core.planning.validate import ValidationConfig


@dataclass(frozen=True)
class GraspCandidate:
    """A grasp to execute: hand-root (LEAP `palm`) pose in the robot base frame (4, 4), the 16 LEAP joint
    positions at the grasp, and optionally the hand shape held during the approach (default: open), the unit
    approach direction in the base frame (3,) and the pre-grasp distance (defaults: PickConfig's).
    Joint positions are in planner order (`HAND_JOINT_NAMES`); use `from_named_joints` for other orders."""

    wrist_pose: np.ndarray
    hand_q: np.ndarray
    pregrasp_hand_q: np.ndarray | None = None
    approach_direction_in_base: np.ndarray | None = None
    pregrasp_distance_m: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "wrist_pose", check_pose(self.wrist_pose, "grasp wrist_pose"))
        if self.approach_direction_in_base is not None:
            object.__setattr__(self, "approach_direction_in_base", approach_direction(self.approach_direction_in_base))
        if self.pregrasp_distance_m is not None and not (np.isfinite(self.pregrasp_distance_m)
                                                         and self.pregrasp_distance_m >= 0.0):
            raise ValueError(f"pregrasp_distance_m must be finite and >= 0, got {self.pregrasp_distance_m}")
        for name in ("hand_q", "pregrasp_hand_q"):
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=float)
            if value.shape != (16,) or not np.isfinite(value).all():
                raise ValueError(f"grasp {name} must be 16 finite joint positions, got shape {value.shape}")
            object.__setattr__(self, name, value)

    @classmethod
    def from_named_joints(cls, wrist_pose: np.ndarray, joint_names: Sequence[str], positions: Sequence[float],
                          pregrasp_positions: Sequence[float] | None = None,
                          approach_direction_in_base: np.ndarray | None = None,
                          pregrasp_distance_m: float | None = None) -> "GraspCandidate":
        """Reorder joints named in FLASH/official ("0".."15") or MJCF names into planner order."""
        order = hand_joint_order(joint_names)
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (16,):
            raise ValueError(f"expected 16 joint positions, got shape {positions.shape}")
        pregrasp = None
        if pregrasp_positions is not None and len(pregrasp_positions):
            pregrasp = np.asarray(pregrasp_positions, dtype=float)
            if pregrasp.shape != (16,):
                raise ValueError(f"expected 16 pre-grasp joint positions, got shape {pregrasp.shape}")
            pregrasp = pregrasp[order]
        return cls(wrist_pose, positions[order], pregrasp, approach_direction_in_base, pregrasp_distance_m)


@dataclass(frozen=True)
class PickConfig:
    pregrasp_distance_m: float = 0.10
    # Approach direction in the hand-root frame: the LEAP palm normal, the side the fingers close towards.
    approach_axis_in_hand: tuple[float, float, float] = (0.0, 0.0, -1.0)
    lift_m: float = 0.10
    hand_move_duration_s: float = 1.5
    hand_close_checks: int = 11  # hand shapes checked along the closing before the expensive stages
    # The close targets this fraction of (grasp - approach shape) beyond the grasp, within the joint limits.
    # 0.1 is DexGraspBench's x 1.1 squeeze, which flash eval's protocols use too.
    squeeze_fraction: float = 0.1
    retreat_arm_q: tuple[float, ...] | None = None  # None: return to the start configuration
    retreat_to_start: bool = True  # False: the retreat holds the object where the lift left it, same orientation
    robot: RobotModelConfig = field(default_factory=RobotModelConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    collision: CollisionConfig = field(default_factory=CollisionConfig)
    ik: IKConfig = field(default_factory=IKConfig)
    cartesian: CartesianConfig = field(default_factory=CartesianConfig)
    joint_path: JointPathConfig = field(default_factory=JointPathConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)


@dataclass(frozen=True)
class PlanSegment:
    """One stage: a trajectory of arm OR hand joints, the other joints held at held_q (23,)."""

    name: str
    trajectory: JointTrajectory
    held_q: np.ndarray
    allow_hand_object: bool


@dataclass
class PickPlan:
    candidate_index: int
    arm_q_grasp: np.ndarray  # (7,)
    segments: list[PlanSegment]
    planning_time_s: float

    @property
    def duration_s(self) -> float:
        return sum(s.trajectory.duration_s for s in self.segments)

    def segment(self, name: str) -> PlanSegment:
        for segment in self.segments:
            if segment.name == name:
                return segment
        raise KeyError(f"no segment '{name}'; segments: {[s.name for s in self.segments]}")


@dataclass
class PickResult:
    plan: PickPlan | None
    rejected: list[tuple[int, str]]  # (candidate index, reason), in the order tried

    @property
    def success(self) -> bool:
        return self.plan is not None


class CandidateRejected(RuntimeError):
    pass


# Exceptions that reject one candidate (the next is tried); anything else is a bug and propagates.
CANDIDATE_ERRORS = (CandidateRejected, JointPathError, CartesianPathError, ValueError, RuntimeError)
# Stage order, and for each: the hand shape held by arm stages ("approach" or "grasp"), hand-object contact.
SEGMENT_LAYOUT = (
    ("open_hand", None, False),
    ("to_pregrasp", "approach", False),
    ("approach", "approach", True),
    ("close_hand", None, True),
    ("lift", "grasp", True),
    ("retreat", "grasp", False),
)


@runtime_checkable
class MotionPlanner(Protocol):
    """Turns ranked grasp candidates into an executable pick (first feasible candidate wins)."""

    def plan_pick(self, candidates: Sequence[GraspCandidate], object_points_m: np.ndarray,
                  start_arm_q: np.ndarray, start_hand_q: np.ndarray | None = None,
                  obstacle_points_m: np.ndarray | None = None,
                  table_plane_pose: np.ndarray | None = None) -> PickResult: ...


def approach_direction(axis: Sequence[float]) -> np.ndarray:
    """An approach axis as a unit (3,) vector."""
    axis = np.asarray(axis, dtype=float)
    if axis.shape != (3,) or not np.isfinite(axis).all() or np.linalg.norm(axis) < 1e-9:
        raise ValueError(f"an approach direction must be a finite non-zero 3-vector, got {axis}")
    return axis / np.linalg.norm(axis)
