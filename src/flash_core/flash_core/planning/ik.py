"""Inverse kinematics of the hand root: Pinocchio damped least squares from several seeds.

Seeds land on different arm branches (elbow/wrist flips), so solutions are filtered by collision and the one
nearest the current configuration wins (continuous joints unwrapped to the nearest 2*pi*k first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from flash_core.planning.robot_model import RobotModel


@dataclass(frozen=True)
class IKConfig:
    n_seeds: int = 16  # the reference configuration plus n_seeds - 1 random ones
    max_solutions: int = 4  # stop seeding once this many distinct valid solutions are found
    max_iterations: int = 100
    position_tolerance_m: float = 1e-4
    rotation_tolerance_rad: float = 1e-3
    damping: float = 1e-6
    max_step_rad: float = 0.5  # per-iteration joint step cap: keeps DLS from jumping branches wildly
    seed: int = 0


def check_pose(pose: np.ndarray, what: str = "target pose") -> np.ndarray:
    """Validate a (4, 4) homogeneous transform: finite, rotation orthonormal with det +1."""
    pose = np.asarray(pose, dtype=float)
    if pose.shape != (4, 4):
        raise ValueError(f"{what} must be a (4, 4) transform, got shape {pose.shape}")
    if not np.isfinite(pose).all():
        raise ValueError(f"{what} contains NaN or inf")
    rot = pose[:3, :3]
    if np.abs(rot @ rot.T - np.eye(3)).max() > 1e-4 or np.linalg.det(rot) < 0.0:
        raise ValueError(f"{what} has a rotation block that is not a proper rotation matrix")
    return pose


def unwrap_near(q: np.ndarray, reference: np.ndarray, continuous: np.ndarray) -> np.ndarray:
    """Shift continuous joints of q (7,) by 2*pi*k to lie within pi of the reference."""
    q = np.array(q, dtype=float)
    delta = np.angle(np.exp(1j * (q - reference)))  # wrapped to [-pi, pi]
    q[continuous] = reference[continuous] + delta[continuous]
    return q


def solve_ik_from(robot: RobotModel, target: np.ndarray, frame_id: int, seed_arm_q: np.ndarray,
                  hand_q: np.ndarray, config: IKConfig) -> np.ndarray | None:
    """One DLS descent from seed_arm_q (7,); the arm solution (7,) or None if it did not converge in limits."""
    import pinocchio as pin

    model, data = robot.model, robot.model.createData()
    n = robot.n_arm
    goal = pin.SE3(target)
    q = robot.full_q(seed_arm_q, hand_q)
    lower, upper = robot.lower_rad[:n], robot.upper_rad[:n]
    damping = config.damping * np.eye(6)
    for _ in range(config.max_iterations):
        pin.framesForwardKinematics(model, data, q)
        current_to_goal = data.oMf[frame_id].actInv(goal)
        error = pin.log6(current_to_goal).vector  # (6,) [linear, angular] in the frame
        if (np.linalg.norm(error[:3]) < config.position_tolerance_m
                and np.linalg.norm(error[3:]) < config.rotation_tolerance_rad):
            arm = q[:n].copy()
            limited = ~robot.continuous
            if np.all(arm[limited] >= lower[limited]) and np.all(arm[limited] <= upper[limited]):
                return np.where(robot.continuous, np.angle(np.exp(1j * arm)), arm)
            return None
        jac = pin.computeFrameJacobian(model, data, q, frame_id, pin.LOCAL)[:, :n]  # (6, 7)
        jac = pin.Jlog6(current_to_goal) @ jac
        step = jac.T @ np.linalg.solve(jac @ jac.T + damping, error)
        scale = max(1.0, np.abs(step).max() / config.max_step_rad)
        q[:n] += step / scale
        limited = ~robot.continuous
        q[:n][limited] = np.clip(q[:n][limited], lower[limited], upper[limited])
    return None


def solve_ik(robot: RobotModel, target: np.ndarray, reference_arm_q: np.ndarray, hand_q: np.ndarray | None = None,
             *, frame: str | None = None, is_valid: Callable[[np.ndarray], bool] | None = None,
             config: IKConfig | None = None, rejected: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Collision-free arm solutions (each (7,)) for `frame` (default: hand root) at target (4, 4).

    Sorted by joint distance to reference_arm_q, continuous joints unwrapped near it. Empty if none found.
    `is_valid(q_full)` filters solutions (e.g. CollisionChecker.is_valid); solutions it refuses are appended
    to `rejected` when given, so callers can tell "out of reach" from "in collision".
    """
    config = config or IKConfig()
    target = check_pose(target)
    frame_id = robot.frame_id(frame or robot.hand_root_frame)
    reference = np.asarray(reference_arm_q, dtype=float)
    robot.full_q(reference, hand_q)  # validates shapes and finiteness
    hand_q = np.zeros(robot.n_hand) if hand_q is None else np.asarray(hand_q, dtype=float)
    rng = np.random.default_rng(config.seed)
    n = robot.n_arm
    seeds = [reference] + [rng.uniform(robot.lower_rad[:n], robot.upper_rad[:n]) for _ in range(config.n_seeds - 1)]
    solutions: list[np.ndarray] = []
    refused: list[np.ndarray] = [] if rejected is None else rejected
    for seed_q in seeds:
        arm = solve_ik_from(robot, target, frame_id, seed_q, hand_q, config)
        if arm is None:
            continue
        arm = unwrap_near(arm, reference, robot.continuous)
        if any(np.abs(arm - s).max() < 1e-3 for s in solutions + refused):
            continue
        if is_valid is None or is_valid(robot.full_q(arm, hand_q)):
            solutions.append(arm)
            if len(solutions) >= config.max_solutions:
                break
        else:
            refused.append(arm)
    solutions.sort(key=lambda s: float(np.linalg.norm(s - reference)))
    return solutions
