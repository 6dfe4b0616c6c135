"""Straight-line Cartesian motions of the hand root as small IK steps, each seeded from the previous one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from flash_core.planning.ik import IKConfig, solve_ik_from, unwrap_near
from flash_core.planning.robot_model import RobotModel


@dataclass(frozen=True)
class CartesianConfig:
    step_m: float = 0.001
    # A larger joint change between 1 mm steps means the arm flipped branch or passed near a singularity.
    max_joint_jump_rad: float = 0.05


class CartesianPathError(RuntimeError):
    """The straight line could not be followed (unreachable, singular, or in collision)."""


def straight_line(robot: RobotModel, start_arm_q: np.ndarray, hand_q: np.ndarray, translation_m: np.ndarray,
                  is_valid: Callable[[np.ndarray], bool], config: CartesianConfig | None = None,
                  ik: IKConfig | None = None) -> np.ndarray:
    """Arm waypoints (K, 7) moving the hand root by translation_m (3,) in the base frame, orientation fixed."""
    config, ik = config or CartesianConfig(), ik or IKConfig()
    translation_m = np.asarray(translation_m, dtype=float)
    start = robot.frame_pose(robot.full_q(start_arm_q, hand_q), robot.hand_root_frame)
    frame_id = robot.frame_id(robot.hand_root_frame)
    n_steps = max(1, int(np.ceil(np.linalg.norm(translation_m) / config.step_m)))
    waypoints = [np.asarray(start_arm_q, dtype=float)]
    for k in range(1, n_steps + 1):
        target = start.copy()
        target[:3, 3] += translation_m * (k / n_steps)
        q = solve_ik_from(robot, target, frame_id, waypoints[-1], hand_q, ik)
        if q is None:
            raise CartesianPathError(f"IK failed {k * config.step_m * 1000:.0f} mm along the line")
        q = unwrap_near(q, waypoints[-1], robot.continuous)
        if np.abs(q - waypoints[-1]).max() > config.max_joint_jump_rad:
            raise CartesianPathError(f"joint jump at {k * config.step_m * 1000:.0f} mm along the line "
                                     "(branch flip or singularity)")
        if not is_valid(robot.full_q(q, hand_q)):
            raise CartesianPathError(f"collision {k * config.step_m * 1000:.0f} mm along the line")
        waypoints.append(q)
    return np.stack(waypoints)
