"""Pick stages shared by the backends: stage geometry (pre-grasp pose, reach, closing sweep), the segment
layout, the independent validation of every segment and the best-first candidate loop."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from flash_core.planning.collision import CollisionChecker
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2, ARM_VELOCITY_LIMITS_RAD_S
from flash_core.planning.pick import (
    CANDIDATE_ERRORS,
    SEGMENT_LAYOUT,
    CandidateRejected,
    GraspCandidate,
    PickConfig,
    PickPlan,
    PickResult,
    PlanSegment,
    approach_direction,
)
from flash_core.planning.robot_model import RobotModel
from flash_core.planning.scene import Scene
from flash_core.planning.timing import TimingConfig, minimum_jerk, stationary
from flash_core.planning.trajectory import JointTrajectory
from flash_core.planning.validate import ValidationConfig, validate_trajectory

# A measured start state may read this far past a hand joint's limit (fingers pressed on an object or the table)
# and is clamped onto it; MoveIt's start-state bounds fix allows the same 0.05 rad by default.
MEASURED_LIMIT_TOLERANCE_RAD = 0.05


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


def squeeze_hand_q(robot: RobotModel, approach_hand_q: np.ndarray, grasp_hand_q: np.ndarray,
                   fraction: float) -> np.ndarray:
    """(16,) close target: `fraction` of (grasp - approach) beyond the grasp, clipped to the hand's limits.
    Collision checks use the grasp itself; the part beyond it lies inside the object and becomes grip force."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"squeeze_fraction must be in [0, 1], got {fraction}")
    target = grasp_hand_q + fraction * (grasp_hand_q - approach_hand_q)
    return np.clip(target, robot.lower_rad[robot.n_arm:], robot.upper_rad[robot.n_arm:])


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


def carried_object_checkers(robot: RobotModel, scene: Scene, candidate: GraspCandidate,
                            config: PickConfig) -> tuple[CollisionChecker, CollisionChecker]:
    """Checkers for the stages that carry the object, its cloud fixed in the hand-root frame at the grasp pose:
    the lift (the object still in the scene for the arm, hand contact allowed; the carried copy may touch the
    table it leaves, never an obstacle) and the retreat (the object only in the hand, kept off table and
    obstacles)."""
    pose = candidate.wrist_pose
    points_in_hand_m = (scene.object_points_m - pose[:3, 3]) @ pose[:3, :3]  # (N, 3) R^T (p - t)
    lift = CollisionChecker(robot, scene, config.collision, attached_points_in_hand_m=points_in_hand_m,
                            attached_touches_table=True)
    retreat = CollisionChecker(robot, scene.without_object(), config.collision,
                               attached_points_in_hand_m=points_in_hand_m)
    return lift, retreat


def validate_segments(segments: list[PlanSegment], checker: CollisionChecker, carry_checker: CollisionChecker,
                      validation: ValidationConfig, lift_checker: CollisionChecker | None = None) -> None:
    """Independent re-check of every segment (limits, dense collisions); the lift (with `lift_checker` when
    given) and the retreat carry the object. Raises CandidateRejected naming the first failing segment."""
    robot = checker.robot
    checkers = {"lift": lift_checker or checker, "retreat": carry_checker}
    for segment in segments:
        is_arm = segment.trajectory.joint_names == robot.arm_joint_names
        report = validate_trajectory(
            segment.trajectory, checkers.get(segment.name, checker), segment.held_q,
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
    start_hand_q = (np.zeros(robot.n_hand) if start_hand_q is None
                    else robot.check_hand_q(start_hand_q, MEASURED_LIMIT_TOLERANCE_RAD))
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
