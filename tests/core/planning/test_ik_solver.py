"""Damped-least-squares IK of the hand root."""

import numpy as np
import pytest

from flash_core.planning import HOME_ARM_Q_RAD, solve_ik
from flash_core.planning.ik import unwrap_near


def test_ik_reaches_random_reachable_poses(robot):
    rng = np.random.default_rng(3)
    successes = 0
    trials = 60
    for _ in range(trials):
        q_true = rng.uniform(robot.lower_rad, robot.upper_rad)
        target = robot.frame_pose(q_true, robot.hand_root_frame)
        solutions = solve_ik(robot, target, HOME_ARM_Q_RAD, q_true[7:])
        if not solutions:
            continue
        successes += 1
        for arm_q in solutions[:3]:
            reached = robot.frame_pose(robot.full_q(arm_q, q_true[7:]), robot.hand_root_frame)
            assert np.abs(reached[:3, 3] - target[:3, 3]).max() < 2e-4
            assert np.abs(reached[:3, :3] - target[:3, :3]).max() < 2e-3
            limited = ~robot.continuous
            assert np.all(arm_q[limited] >= robot.lower_rad[:7][limited] - 1e-9)
            assert np.all(arm_q[limited] <= robot.upper_rad[:7][limited] + 1e-9)
    assert successes >= 0.95 * trials


def test_solutions_sorted_nearest_first_and_filtered(robot):
    target = robot.frame_pose(robot.full_q(HOME_ARM_Q_RAD), robot.hand_root_frame)
    target[:3, 3] += (0.0, 0.1, -0.15)
    solutions = solve_ik(robot, target, HOME_ARM_Q_RAD)
    assert len(solutions) >= 2
    distances = [np.linalg.norm(s - HOME_ARM_Q_RAD) for s in solutions]
    assert distances == sorted(distances)
    # Continuous joints are unwrapped within pi of the reference.
    for s in solutions:
        assert np.all(np.abs(s - HOME_ARM_Q_RAD)[robot.continuous] <= np.pi + 1e-9)
    assert solve_ik(robot, target, HOME_ARM_Q_RAD, is_valid=lambda q: False) == []


def test_unreachable_pose_gives_no_solution(robot):
    far = np.eye(4)
    far[:3, 3] = (3.0, 0.0, 0.5)
    assert solve_ik(robot, far, HOME_ARM_Q_RAD) == []


@pytest.mark.parametrize("pose, match", [
    (np.full((4, 4), np.nan), "NaN"), (np.eye(3), "shape"), (np.diag([1.0, 1.0, -1.0, 1.0]), "rotation"),
])
def test_bad_target_is_rejected(robot, pose, match):
    with pytest.raises(ValueError, match=match):
        solve_ik(robot, pose, HOME_ARM_Q_RAD)


def test_unknown_frame_and_bad_seed(robot):
    with pytest.raises(KeyError, match="wrist_of_nobody"):
        solve_ik(robot, np.eye(4), HOME_ARM_Q_RAD, frame="wrist_of_nobody")
    with pytest.raises(ValueError, match="NaN"):
        solve_ik(robot, np.eye(4), np.full(7, np.nan))


def test_unwrap_near_moves_only_continuous_joints():
    continuous = np.array([True, False])
    out = unwrap_near(np.array([3.0, 3.0]), np.array([-3.0, -3.0]), continuous)
    assert out[0] == pytest.approx(3.0 - 2 * np.pi) and out[1] == 3.0
