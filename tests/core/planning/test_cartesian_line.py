"""Straight Cartesian lines of the hand root: on the line, orientation held, continuous, failures named."""

import numpy as np
import pytest

from flash_core.planning import HOME_ARM_Q_RAD
from flash_core.planning.cartesian import CartesianPathError, straight_line


def test_waypoints_follow_the_line_with_fixed_orientation(robot):
    hand = np.zeros(16)
    translation = np.array([0.03, -0.05, -0.08])
    line = straight_line(robot, HOME_ARM_Q_RAD, hand, translation, lambda q: True)
    start = robot.frame_pose(robot.full_q(HOME_ARM_Q_RAD, hand), robot.hand_root_frame)
    assert len(line) == 1 + int(np.ceil(np.linalg.norm(translation) / 0.001))
    poses = np.array([robot.frame_pose(robot.full_q(q, hand), robot.hand_root_frame) for q in line])
    expected = start[:3, 3] + np.linspace(0.0, 1.0, len(line))[:, None] * translation
    assert np.abs(poses[:, :3, 3] - expected).max() < 1e-4
    assert np.abs(poses[:, :3, :3] - start[:3, :3]).max() < 2e-3
    assert np.abs(np.diff(line, axis=0)).max() < 0.05  # continuous: no wrap of the continuous joints


def test_line_out_of_reach_and_into_collision_fail_clearly(robot):
    hand = np.zeros(16)
    with pytest.raises(CartesianPathError, match="along the line"):
        straight_line(robot, HOME_ARM_Q_RAD, hand, np.array([1.5, 0.0, 0.0]), lambda q: True)
    start_z = robot.frame_pose(robot.full_q(HOME_ARM_Q_RAD, hand), robot.hand_root_frame)[2, 3]

    def above_floor(q):
        return robot.frame_pose(q, robot.hand_root_frame)[2, 3] > start_z - 0.022

    with pytest.raises(CartesianPathError, match="collision 25 mm along the line"):
        straight_line(robot, HOME_ARM_Q_RAD, hand, np.array([0.0, 0.0, -0.05]), above_floor)
