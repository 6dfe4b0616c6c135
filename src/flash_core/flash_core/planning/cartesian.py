"""Straight-line Cartesian motions of the hand root: one damped Newton pass along the line.

Each 1 mm waypoint continues from the previous one with Jacobian steps on the SE(3) error (log6) until it is
within the IK tolerances; the forward kinematics that checks a waypoint also gives the error towards the next,
so a waypoint usually costs one Jacobian and one 6x6 solve, not a full IK solve from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from flash_core.planning.ik import IKConfig
from flash_core.planning.robot_model import RobotModel


@dataclass(frozen=True)
class CartesianConfig:
    step_m: float = 0.001
    # Collision checks every this much hand motion (and at the end): the checker's 1 cm environment margin
    # covers the gaps, and the validator re-checks the timed segment at 2 mm of any point's motion.
    check_every_m: float = 0.005
    # A larger joint change between 1 mm steps means the arm flipped branch or passed near a singularity.
    max_joint_jump_rad: float = 0.05


class CartesianPathError(RuntimeError):
    """The straight line could not be followed (unreachable, singular, or in collision)."""


def straight_line(robot: RobotModel, start_arm_q: np.ndarray, hand_q: np.ndarray, translation_m: np.ndarray,
                  is_valid: Callable[[np.ndarray], bool], config: CartesianConfig | None = None,
                  ik: IKConfig | None = None) -> np.ndarray:
    """Arm waypoints (K, 7) moving the hand root by translation_m (3,) in the base frame, orientation fixed.

    Continuous joints are never wrapped, so the waypoints are a continuous joint path.
    """
    import pinocchio as pin

    config, ik = config or CartesianConfig(), ik or IKConfig()
    translation_m = np.asarray(translation_m, dtype=float)
    model, data = robot.model, robot.model.createData()
    frame_id = robot.frame_id(robot.hand_root_frame)
    n = robot.n_arm
    q = robot.full_q(start_arm_q, hand_q)
    pin.framesForwardKinematics(model, data, q)
    start = data.oMf[frame_id].copy()
    limited = ~robot.continuous
    lower, upper = robot.lower_rad[:n][limited], robot.upper_rad[:n][limited]
    damping = ik.damping * np.eye(6)
    n_steps = max(1, int(np.ceil(np.linalg.norm(translation_m) / config.step_m)))
    waypoints = [q[:n].copy()]
    check_every = max(1, int(round(config.check_every_m / config.step_m)))
    for k in range(1, n_steps + 1):
        where = f"{k * config.step_m * 1000:.0f} mm along the line"
        target = pin.SE3(start.rotation, start.translation + translation_m * (k / n_steps))
        for _ in range(ik.max_iterations):
            current_to_goal = data.oMf[frame_id].actInv(target)
            error = pin.log6(current_to_goal).vector  # (6,) [linear, angular] in the frame
            if (np.linalg.norm(error[:3]) < ik.position_tolerance_m
                    and np.linalg.norm(error[3:]) < ik.rotation_tolerance_rad):
                break
            jac = pin.Jlog6(current_to_goal) @ pin.computeFrameJacobian(model, data, q, frame_id, pin.LOCAL)[:, :n]
            q[:n] += jac.T @ np.linalg.solve(jac @ jac.T + damping, error)
            pin.framesForwardKinematics(model, data, q)
        else:
            raise CartesianPathError(f"IK failed {where}")
        arm = q[:n].copy()
        if np.any(arm[limited] < lower) or np.any(arm[limited] > upper):
            raise CartesianPathError(f"joint limit reached {where}")
        if np.abs(arm - waypoints[-1]).max() > config.max_joint_jump_rad:
            raise CartesianPathError(f"joint jump at {where} (branch flip or singularity)")
        if (k % check_every == 0 or k == n_steps) and not is_valid(q):
            raise CartesianPathError(f"collision {where}")
        waypoints.append(arm)
    return np.stack(waypoints)
