"""The independent validator must fail bad trajectories: contact between samples, limit violations."""

import numpy as np

from flash_core.planning import (
    HOME_ARM_Q_RAD,
    CollisionChecker,
    JointTrajectory,
    Scene,
    SceneConfig,
    TableConfig,
    validate_trajectory,
)
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2 as AMAX
from flash_core.planning.description import ARM_VELOCITY_LIMITS_RAD_S as VMAX
from flash_core.planning.timing import time_parameterise_polyline

NAMES = tuple(f"joint_{i}" for i in range(1, 8))


def _checker(robot):
    return CollisionChecker(robot, Scene(SceneConfig(table=TableConfig())))


def test_clean_trajectory_passes(robot):
    goal = HOME_ARM_Q_RAD + np.array([0.5, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0])
    traj = time_parameterise_polyline(NAMES, np.stack([HOME_ARM_Q_RAD, goal]), VMAX, AMAX)
    report = validate_trajectory(traj, _checker(robot), robot.full_q(HOME_ARM_Q_RAD), vmax=VMAX, amax=AMAX)
    assert report.ok, report.problems
    # dense: joint 1 carries the hand ~0.9 m from its axis, and no point may move more than 2 mm between checks
    assert report.n_checked >= 0.5 * 0.9 / 0.002


def test_sweep_through_an_obstacle_between_clear_ends_fails(robot):
    """Both ends are clear and the trajectory has two samples only: the dense re-check must find the pole the
    hand sweeps through in between."""
    palm = robot.frame_pose(robot.full_q(HOME_ARM_Q_RAD), robot.hand_root_frame)[:3, 3]
    pole = np.stack([np.full(60, palm[0]), np.full(60, palm[1]), np.linspace(0.2, 0.8, 60)], axis=1)
    checker = CollisionChecker(robot, Scene(SceneConfig(table=TableConfig()), pole))
    start, end = HOME_ARM_Q_RAD.copy(), HOME_ARM_Q_RAD.copy()
    start[0], end[0] = -0.8, 0.8  # swing joint 1 across the pole
    assert checker.is_valid(robot.full_q(start)) and checker.is_valid(robot.full_q(end))
    traj = JointTrajectory(NAMES, np.stack([start, end]), np.zeros((2, 7)), np.zeros((2, 7)), np.array([0.0, 10.0]))
    report = validate_trajectory(traj, checker, robot.full_q(start))
    assert not report.ok and any("object" in p for p in report.problems), report.problems


def test_too_fast_trajectory_fails(robot):
    goal = HOME_ARM_Q_RAD + np.array([2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # long enough to reach top speed
    traj = time_parameterise_polyline(NAMES, np.stack([HOME_ARM_Q_RAD, goal]), VMAX, AMAX)
    hurried = JointTrajectory(NAMES, traj.positions, traj.velocities * 2, traj.accelerations * 4, traj.times_s / 2)
    report = validate_trajectory(hurried, _checker(robot), robot.full_q(HOME_ARM_Q_RAD), vmax=VMAX, amax=AMAX)
    assert not report.ok
    assert any("joint_1 velocity" in p for p in report.problems)
    assert any("joint_1 acceleration" in p for p in report.problems)


def test_position_limit_violation_fails(robot):
    start = np.array([0.0, 2.0, 0.0, 0.5, 0.0, 0.5, 0.0])
    end = start + np.array([0.0, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0])  # joint_2 past 2.2497
    traj = JointTrajectory(NAMES, np.stack([start, end]), np.zeros((2, 7)), np.zeros((2, 7)), np.array([0.0, 5.0]))
    report = validate_trajectory(traj, _checker(robot), robot.full_q(start))
    assert not report.ok and any("joint_2 leaves its position limits" in p for p in report.problems)
