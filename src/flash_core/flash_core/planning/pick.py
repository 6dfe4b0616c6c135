"""Pick sequences for ranked grasp candidates, as MoveIt's pick pipeline stages them.

For each candidate (best first) until one is feasible:
  1. open_hand    hand from its current joints to the approach shape: open, or the grasp's pre-grasp shape;
  2. to_pregrasp  OMPL joint path to the pre-grasp: the grasp pose backed off along the palm normal;
  3. approach     straight Cartesian line (1 mm IK steps) pre-grasp -> grasp, hand in the approach shape;
  4. close_hand   approach shape -> grasp joints (arm still; limiting the squeeze current is the driver's job);
  5. lift         straight line up by lift_m, hand closed;
  6. retreat      OMPL joint path to the retreat configuration (default: where the arm started).

Allowed contacts (documented choice): the hand may touch the object in approach, close_hand and lift, where
the fingers are meant to reach it; the arm links may never touch it; nothing may touch the table. The retreat
is planned without the object cloud, since the object then travels in the hand (its own collisions with the
world are not modelled). Every segment is time-parameterised and then re-checked by `validate_trajectory`;
a candidate failing any step is rejected with the reason.

The stage geometry (pre-grasp pose, closing sweep), the candidate loop, the segment layout and the validation
are module functions shared by both backends: `OmplPlanner` here and `moveit_backend.MoveItPyPlanner`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from flash_core.planning.cartesian import CartesianConfig, CartesianPathError, straight_line
from flash_core.planning.collision import CollisionChecker, CollisionConfig
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2, ARM_VELOCITY_LIMITS_RAD_S, hand_joint_order
from flash_core.planning.ik import IKConfig, check_pose, solve_ik, unwrap_near
from flash_core.planning.joint_path import JointPathConfig, JointPathError, plan_joint_path
from flash_core.planning.robot_model import RobotModel, RobotModelConfig
from flash_core.planning.scene import Scene, SceneConfig
from flash_core.planning.timing import (
    TimingConfig,
    minimum_jerk,
    stationary,
    time_parameterise_polyline,
    time_parameterise_spline,
)
from flash_core.planning.trajectory import JointTrajectory
from flash_core.planning.validate import ValidationConfig, validate_trajectory


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
    retreat_arm_q: tuple[float, ...] | None = None  # None: return to the start configuration
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
                  obstacle_points_m: np.ndarray | None = None) -> PickResult: ...


def approach_direction(axis: Sequence[float]) -> np.ndarray:
    """An approach axis as a unit (3,) vector."""
    axis = np.asarray(axis, dtype=float)
    if axis.shape != (3,) or not np.isfinite(axis).all() or np.linalg.norm(axis) < 1e-9:
        raise ValueError(f"an approach direction must be a finite non-zero 3-vector, got {axis}")
    return axis / np.linalg.norm(axis)


def candidate_pregrasp_pose(candidate: GraspCandidate, config: PickConfig) -> np.ndarray:
    """(4, 4) pre-grasp pose: the grasp's own approach direction and distance, else PickConfig's."""
    grasp_pose = candidate.wrist_pose
    distance_m = config.pregrasp_distance_m if candidate.pregrasp_distance_m is None else candidate.pregrasp_distance_m
    if candidate.approach_direction_in_base is None:
        return pregrasp_pose(grasp_pose, approach_direction(config.approach_axis_in_hand), distance_m)
    pose = np.array(grasp_pose, dtype=float)
    pose[:3, 3] -= distance_m * candidate.approach_direction_in_base
    return pose


def pregrasp_pose(grasp_pose: np.ndarray, approach_axis_in_hand: np.ndarray, distance_m: float) -> np.ndarray:
    """(4, 4) grasp pose backed off by distance_m against the approach direction (a unit axis in the hand)."""
    pose = np.array(grasp_pose, dtype=float)
    pose[:3, 3] -= distance_m * (pose[:3, :3] @ approach_axis_in_hand)
    return pose


def check_reach(robot: RobotModel, candidate: GraspCandidate, config: PickConfig) -> None:
    """Reject a candidate whose grasp, pre-grasp or lifted pose lies outside the arm's reach ball: the same
    verdict the IK would give (no solution), in microseconds instead of a full multi-seed IK."""
    lifted = np.array(candidate.wrist_pose)
    lifted[2, 3] += config.lift_m
    for stage, pose in (("grasp", candidate.wrist_pose), ("pre-grasp", candidate_pregrasp_pose(candidate, config)),
                        ("lift", lifted)):
        if robot.hand_root_out_of_reach(pose):
            raise CandidateRejected(f"{stage} pose out of reach (beyond the arm's reach radius)")


def approach_hand_shape(candidate: GraspCandidate) -> np.ndarray:
    """(16,) hand shape held from the start through the approach: open unless the grasp gives one."""
    return np.zeros(len(candidate.hand_q)) if candidate.pregrasp_hand_q is None else candidate.pregrasp_hand_q


def check_hand_closing(checker: CollisionChecker, arm_q: np.ndarray, approach_hand_q: np.ndarray,
                       grasp_hand_q: np.ndarray, n_checks: int) -> None:
    """Closing sweeps the fingers: check n_checks shapes on the way (hand-object contact allowed)."""
    robot = checker.robot
    for s in np.linspace(0.0, 1.0, n_checks):
        closing = robot.full_q(arm_q, approach_hand_q + s * (grasp_hand_q - approach_hand_q))
        if not checker.is_valid(closing, allow_hand_object=True):
            pairs = checker.colliding_pairs(closing, allow_hand_object=True)[:3]
            raise CandidateRejected(f"closing the hand collides {s:.0%} of the way: {pairs}")


def hand_motion(robot: RobotModel, start: np.ndarray, end: np.ndarray, duration_s: float,
                timing: TimingConfig) -> JointTrajectory:
    """Minimum-jerk hand move start (16,) -> end (16,), or a single point when they are equal."""
    if np.abs(end - start).max() < 1e-9:
        return stationary(robot.hand_joint_names, start)
    return minimum_jerk(robot.hand_joint_names, start, end, duration_s, timing.sample_period_s)


def pick_segments(robot: RobotModel, trajectories: dict[str, JointTrajectory], approach_hand_q: np.ndarray,
                  grasp_hand_q: np.ndarray) -> list[PlanSegment]:
    """The six stages in SEGMENT_LAYOUT order, each with the joints it does not move held (23,).

    trajectories: stage name -> arm (7) trajectory for arm stages, hand (16) trajectory for hand stages.
    A hand stage holds the arm where the next (open_hand) or previous (close_hand) arm stage is.
    """
    held_hand = {"approach": approach_hand_q, "grasp": grasp_hand_q}
    arm_at = {"open_hand": trajectories["to_pregrasp"].positions[0],
              "close_hand": trajectories["approach"].positions[-1]}
    segments = []
    for name, hand_shape, allow_contact in SEGMENT_LAYOUT:
        trajectory = trajectories[name]
        if hand_shape is None:
            held = robot.full_q(arm_at[name], trajectory.positions[0])
        else:
            held = robot.full_q(trajectory.positions[0], held_hand[hand_shape])
        segments.append(PlanSegment(name, trajectory, held, allow_contact))
    return segments


def validate_segments(segments: list[PlanSegment], checker: CollisionChecker, carry_checker: CollisionChecker,
                      validation: ValidationConfig) -> None:
    """Independent re-check of every segment (limits, dense collisions); the retreat carries the object, so
    it is checked without it. Raises CandidateRejected naming the first failing segment."""
    robot = checker.robot
    for segment in segments:
        is_arm = segment.trajectory.joint_names == robot.arm_joint_names
        report = validate_trajectory(
            segment.trajectory, carry_checker if segment.name == "retreat" else checker, segment.held_q,
            allow_hand_object=segment.allow_hand_object,
            vmax=ARM_VELOCITY_LIMITS_RAD_S if is_arm else None, amax=ARM_ACCELERATION_LIMITS_RAD_S2 if is_arm else None,
            config=validation,
        )
        if not report.ok:
            raise CandidateRejected(f"{segment.name} failed validation: {'; '.join(report.problems[:3])}")


def plan_first_feasible(robot: RobotModel, candidates: Sequence[GraspCandidate], start_arm_q: np.ndarray,
                        start_hand_q: np.ndarray | None,
                        plan_candidate: Callable[[GraspCandidate, np.ndarray, np.ndarray], PickPlan]) -> PickResult:
    """Check the start, then plan candidates best first until one succeeds; the others' reasons are kept."""
    start_arm_q = np.asarray(start_arm_q, dtype=float)
    start_hand_q = np.zeros(robot.n_hand) if start_hand_q is None else robot.check_hand_q(start_hand_q)
    robot.full_q(start_arm_q, start_hand_q)  # shape / NaN check
    if not candidates:
        raise ValueError("no grasp candidates given")
    rejected: list[tuple[int, str]] = []
    for index, candidate in enumerate(candidates):
        began = time.perf_counter()
        try:
            robot.check_hand_q(candidate.hand_q)
            if candidate.pregrasp_hand_q is not None:
                robot.check_hand_q(candidate.pregrasp_hand_q)
            plan = plan_candidate(candidate, start_arm_q, start_hand_q)
        except CANDIDATE_ERRORS as exc:
            rejected.append((index, f"{type(exc).__name__}: {exc}"))
            continue
        plan.candidate_index, plan.planning_time_s = index, time.perf_counter() - began
        return PickResult(plan, rejected)
    return PickResult(None, rejected)


class OmplPlanner:
    """Pinocchio + coal + OMPL + toppra pick planner (runs anywhere the PyPI wheels install)."""

    def __init__(self, config: PickConfig | None = None, robot: RobotModel | None = None):
        self.config = config or PickConfig()
        self.robot = robot or RobotModel(self.config.robot)
        approach_direction(self.config.approach_axis_in_hand)  # fails here on a bad config, not per candidate

    # --- public -----------------------------------------------------------------------------------------
    def plan_pick(self, candidates: Sequence[GraspCandidate], object_points_m: np.ndarray,
                  start_arm_q: np.ndarray, start_hand_q: np.ndarray | None = None,
                  obstacle_points_m: np.ndarray | None = None) -> PickResult:
        """obstacle_points_m (M, 3): the other objects, base frame; never touched, in every stage."""
        scene = Scene(self.config.scene, object_points_m,
                      np.zeros((0, 3)) if obstacle_points_m is None else obstacle_points_m)
        checker = CollisionChecker(self.robot, scene, self.config.collision)
        carry_checker = CollisionChecker(self.robot, scene.without_object(), self.config.collision)
        return plan_first_feasible(
            self.robot, candidates, start_arm_q, start_hand_q,
            lambda candidate, arm_q, hand_q: self._plan_candidate(candidate, checker, carry_checker, arm_q, hand_q),
        )

    # --- stages -----------------------------------------------------------------------------------------
    def _plan_candidate(self, candidate: GraspCandidate, checker: CollisionChecker,
                        carry_checker: CollisionChecker, start_arm_q: np.ndarray,
                        start_hand_q: np.ndarray) -> PickPlan:
        robot, cfg = self.robot, self.config
        check_reach(robot, candidate, cfg)
        approach_hand_q = approach_hand_shape(candidate)
        strict = lambda q: checker.is_valid(q)  # noqa: E731
        contact = lambda q: checker.is_valid(q, allow_hand_object=True)  # noqa: E731

        start_q = robot.full_q(start_arm_q, approach_hand_q)
        if not strict(start_q):
            raise CandidateRejected(f"start configuration in collision: {checker.colliding_pairs(start_q)}")
        grasp_pose = candidate.wrist_pose
        self._reachable("grasp", grasp_pose, start_arm_q, candidate.hand_q, checker, allow_hand_object=True)
        pregrasp = candidate_pregrasp_pose(candidate, cfg)
        approach_m = grasp_pose[:3, 3] - pregrasp[:3, 3]  # (3,) the straight approach in the base frame
        pregrasp_solutions = self._reachable("pre-grasp", pregrasp, start_arm_q, approach_hand_q, checker,
                                             allow_hand_object=False)
        last_error: Exception | None = None
        for pregrasp_q in pregrasp_solutions:
            try:
                approach = straight_line(robot, pregrasp_q, approach_hand_q, approach_m, contact, cfg.cartesian,
                                         cfg.ik)
                grasp_q = approach[-1]
                check_hand_closing(checker, grasp_q, approach_hand_q, candidate.hand_q, cfg.hand_close_checks)
                lift = straight_line(robot, grasp_q, candidate.hand_q, np.array([0.0, 0.0, cfg.lift_m]),
                                     contact, cfg.cartesian, cfg.ik)
                break
            except (CartesianPathError, CandidateRejected) as exc:
                last_error = exc
        else:
            raise CandidateRejected(f"no pre-grasp branch gives a clear approach and lift ({last_error})")

        to_pregrasp = self._joint_path(lambda q: strict(robot.full_q(q, approach_hand_q)), start_arm_q, pregrasp_q)
        retreat_q = start_arm_q if cfg.retreat_arm_q is None else np.asarray(cfg.retreat_arm_q, dtype=float)
        retreat_q = unwrap_near(retreat_q, lift[-1], robot.continuous)  # the same pose, the shorter way round
        carry = lambda q: carry_checker.is_valid(q)  # noqa: E731
        retreat = self._joint_path(lambda q: carry(robot.full_q(q, candidate.hand_q)), lift[-1], retreat_q)

        arm_names = robot.arm_joint_names
        vmax, amax, timing = ARM_VELOCITY_LIMITS_RAD_S, ARM_ACCELERATION_LIMITS_RAD_S2, cfg.timing
        trajectories = {
            "open_hand": hand_motion(robot, start_hand_q, approach_hand_q, cfg.hand_move_duration_s, timing),
            "to_pregrasp": time_parameterise_polyline(arm_names, to_pregrasp, vmax, amax, timing),
            "approach": time_parameterise_spline(arm_names, approach, vmax, amax, timing),
            "close_hand": hand_motion(robot, approach_hand_q, candidate.hand_q, cfg.hand_move_duration_s, timing),
            "lift": time_parameterise_spline(arm_names, lift, vmax, amax, timing),
            "retreat": time_parameterise_polyline(arm_names, retreat, vmax, amax, timing),
        }
        segments = pick_segments(robot, trajectories, approach_hand_q, candidate.hand_q)
        validate_segments(segments, checker, carry_checker, cfg.validation)
        return PickPlan(-1, grasp_q, segments, 0.0)

    def _reachable(self, stage: str, pose: np.ndarray, reference_arm_q: np.ndarray, hand_q: np.ndarray,
                   checker: CollisionChecker, *, allow_hand_object: bool) -> list[np.ndarray]:
        """Collision-free IK solutions for a stage pose, or CandidateRejected saying why there are none."""
        robot = self.robot
        refused: list[np.ndarray] = []
        solutions = solve_ik(robot, pose, reference_arm_q, hand_q, config=self.config.ik, rejected=refused,
                             is_valid=lambda q: checker.is_valid(q, allow_hand_object=allow_hand_object))
        if solutions:
            return solutions
        if not refused:
            raise CandidateRejected(f"{stage} pose out of reach (no IK solution within the joint limits)")
        pairs = checker.colliding_pairs(robot.full_q(refused[0], hand_q), allow_hand_object=allow_hand_object)
        raise CandidateRejected(f"{stage} pose in collision for all {len(refused)} IK solutions, e.g. {pairs[:3]}")

    def _joint_path(self, is_valid_arm, start: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """OMPL path between arm configurations; continuous joints searched within start +- pi."""
        robot = self.robot
        n = robot.n_arm
        lower = np.where(robot.continuous, start - np.pi, robot.lower_rad[:n])
        upper = np.where(robot.continuous, start + np.pi, robot.upper_rad[:n])
        return plan_joint_path(is_valid_arm, start, goal, lower, upper, self.config.joint_path)
