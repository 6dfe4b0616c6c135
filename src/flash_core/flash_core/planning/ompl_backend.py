"""The OMPL pick backend: Pinocchio + coal collision checks, OMPL joint paths, Cartesian lines, toppra timing
(PyPI wheels only, no ROS). Stages as `pick` describes them."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from flash_core.planning.cartesian import CartesianPathError, straight_line
from flash_core.planning.collision import CollisionChecker
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2, ARM_VELOCITY_LIMITS_RAD_S
from flash_core.planning.ik import solve_ik, unwrap_near
from flash_core.planning.joint_path import plan_joint_path
from flash_core.planning.pick import (
    CandidateRejected,
    GraspCandidate,
    PickConfig,
    PickPlan,
    PickResult,
    approach_direction,
)
from flash_core.planning.pick_stages import (
    approach_hand_shape,
    candidate_pregrasp_pose,
    carried_object_checkers,
    check_hand_closing,
    check_reach,
    hand_motion,
    pick_segments,
    plan_first_feasible,
    squeeze_hand_q,
    validate_segments,
)
from flash_core.planning.robot_model import RobotModel
from flash_core.planning.scene import Scene
from flash_core.planning.timing import stationary, time_parameterise_polyline, time_parameterise_spline


class OmplPlanner:
    """Pinocchio + coal + OMPL + toppra pick planner (runs anywhere the PyPI wheels install)."""

    def __init__(self, config: PickConfig | None = None, robot: RobotModel | None = None):
        self.config = config or PickConfig()
        self.robot = robot or RobotModel(self.config.robot)
        approach_direction(self.config.approach_axis_in_hand)  # fails here on a bad config, not per candidate

    # --- public -----------------------------------------------------------------------------------------
    def plan_pick(self, candidates: Sequence[GraspCandidate], object_points_m: np.ndarray,
                  start_arm_q: np.ndarray, start_hand_q: np.ndarray | None = None,
                  obstacle_points_m: np.ndarray | None = None,
                  table_plane_pose: np.ndarray | None = None) -> PickResult:
        """obstacle_points_m (M, 3): the other objects, base frame; never touched, in every stage.
        table_plane_pose (4, 4): the measured table plane (`scene.table_from_plane`) instead of the config's."""
        scene = Scene.for_pick(self.config.scene, object_points_m, obstacle_points_m, table_plane_pose)
        checker = CollisionChecker(self.robot, scene, self.config.collision)
        return plan_first_feasible(
            self.robot, candidates, start_arm_q, start_hand_q,
            lambda candidate, arm_q, hand_q: self._plan_candidate(candidate, scene, checker, arm_q, hand_q),
        )

    # --- stages -----------------------------------------------------------------------------------------
    def _plan_candidate(self, candidate: GraspCandidate, scene: Scene, checker: CollisionChecker,
                        start_arm_q: np.ndarray,
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
        lift_checker, carry_checker = carried_object_checkers(robot, scene, candidate, cfg)
        lifting = lambda q: lift_checker.is_valid(q, allow_hand_object=True)  # noqa: E731
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
                                     lifting, cfg.cartesian, cfg.ik)
                break
            except (CartesianPathError, CandidateRejected) as exc:
                last_error = exc
        else:
            raise CandidateRejected(f"no pre-grasp branch gives a clear approach and lift ({last_error})")

        to_pregrasp = self._joint_path(lambda q: strict(robot.full_q(q, approach_hand_q)), start_arm_q, pregrasp_q)
        retreat = None  # without retreat_to_start: hold where the lift ended
        if cfg.retreat_to_start:
            retreat_q = start_arm_q if cfg.retreat_arm_q is None else np.asarray(cfg.retreat_arm_q, dtype=float)
            retreat_q = unwrap_near(retreat_q, lift[-1], robot.continuous)  # the same pose, the shorter way round
            carry = lambda q: carry_checker.is_valid(q)  # noqa: E731
            retreat_goal = robot.full_q(retreat_q, candidate.hand_q)
            if not carry(retreat_goal):
                raise CandidateRejected("retreat goal in collision carrying the object: "
                                        f"{carry_checker.colliding_pairs(retreat_goal)[:3]}")
            retreat = self._joint_path(lambda q: carry(robot.full_q(q, candidate.hand_q)), lift[-1], retreat_q)

        arm_names = robot.arm_joint_names
        squeeze = squeeze_hand_q(robot, approach_hand_q, candidate.hand_q, cfg.squeeze_fraction)
        vmax, amax, timing = ARM_VELOCITY_LIMITS_RAD_S, ARM_ACCELERATION_LIMITS_RAD_S2, cfg.timing
        trajectories = {
            "open_hand": hand_motion(robot, start_hand_q, approach_hand_q, cfg.hand_move_duration_s, timing),
            "to_pregrasp": time_parameterise_polyline(arm_names, to_pregrasp, vmax, amax, timing),
            "approach": time_parameterise_spline(arm_names, approach, vmax, amax, timing),
            "close_hand": hand_motion(robot, approach_hand_q, squeeze, cfg.hand_move_duration_s, timing),
            "lift": time_parameterise_spline(arm_names, lift, vmax, amax, timing),
            "retreat": (stationary(arm_names, lift[-1]) if retreat is None
                        else time_parameterise_polyline(arm_names, retreat, vmax, amax, timing)),
        }
        segments = pick_segments(robot, trajectories, approach_hand_q, candidate.hand_q)
        validate_segments(segments, checker, carry_checker, cfg.validation, lift_checker)
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
