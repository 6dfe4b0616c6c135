"""JTC's goal checks, spline sampling and tolerances (flash_sim.tracking), without ROS."""

import numpy as np
import pytest
from flash_sim.tracking import (
    ControllerConfig,
    ErrorCode,
    GoalMonitor,
    GoalRejected,
    JointToleranceSpec,
    SplineTrajectory,
    TrajectoryPoint,
    arm_controller,
    check_goal,
    hand_controller,
    resolve_tolerances,
)

ARM = arm_controller()
NAMES = list(ARM.joints)
P = TrajectoryPoint


def two_joint(**kwargs) -> ControllerConfig:
    return ControllerConfig(action_name="/test/follow_joint_trajectory", joints=("a", "b"), **kwargs)


# --- goal checks: every refusal has its code and a reason naming what is wrong ---
@pytest.mark.parametrize("names, points, code, words", [
    ([], [P(1.0, [])], ErrorCode.INVALID_JOINTS, "names no joints"),
    (NAMES[:6] + ["joint_1"], [P(1.0, [0.0] * 7)], ErrorCode.INVALID_JOINTS, "more than once: ['joint_1']"),
    (NAMES[:6] + ["elbow"], [P(1.0, [0.0] * 7)], ErrorCode.INVALID_JOINTS, "unknown joints ['elbow']"),
    (NAMES[:6], [P(1.0, [0.0] * 6)], ErrorCode.INVALID_JOINTS, "missing joints ['joint_7']"),
    (NAMES, [], ErrorCode.INVALID_GOAL, "no points"),
    (NAMES, [P(1.0, [0.0] * 7), P(1.0, [0.1] * 7)], ErrorCode.INVALID_GOAL, "increase strictly"),
    (NAMES, [P(-0.5, [0.0] * 7)], ErrorCode.INVALID_GOAL, ">= 0"),
    (NAMES, [P(1.0, [0.0] * 6)], ErrorCode.INVALID_GOAL, "6 positions for 7 joints"),
    (NAMES, [P(1.0, [0.0] * 7, [0.0] * 3)], ErrorCode.INVALID_GOAL, "3 velocities"),
    (NAMES, [P(1.0, [0.0] * 7, [], [0.0] * 2)], ErrorCode.INVALID_GOAL, "2 accelerations"),
    (NAMES, [P(1.0, [0.0] * 6 + [float("nan")])], ErrorCode.INVALID_GOAL, "positions of joints ['joint_7']"),
    (NAMES, [P(1.0, [0.0] * 7, [0.0] * 6 + [float("inf")])], ErrorCode.INVALID_GOAL, "velocities of joints"),
    (NAMES, [P(1.0, [0.0] * 7, [0.1] + [0.0] * 6)], ErrorCode.INVALID_GOAL, "not zero for joints ['joint_1']"),
])
def test_rejects_what_jtc_rejects(names, points, code, words):
    with pytest.raises(GoalRejected) as info:
        check_goal(ARM, names, points, now_s=0.0)
    assert info.value.code == code
    assert words in str(info.value)


def test_header_stamp_in_the_past_is_an_old_timestamp():
    with pytest.raises(GoalRejected) as info:
        check_goal(ARM, NAMES, [P(1.0, [0.0] * 7)], now_s=10.0, header_stamp_s=5.0)
    assert info.value.code == ErrorCode.OLD_HEADER_TIMESTAMP
    goal = check_goal(ARM, NAMES, [P(1.0, [0.0] * 7)], now_s=10.0, header_stamp_s=9.5)  # ends in the future
    assert goal.start_time_s == 9.5


def test_accepts_reordered_and_partial_goals_where_allowed():
    goal = check_goal(ARM, NAMES[::-1], [P(1.0, list(range(7)))], now_s=0.0)
    assert goal.columns.tolist() == [6, 5, 4, 3, 2, 1, 0] and goal.start_time_s is None
    hand = hand_controller()
    goal = check_goal(hand, ["3", "0"], [P(0.5, [0.1, 0.2])], now_s=0.0)
    assert goal.columns.tolist() == [3, 0]
    moving_end = two_joint(allow_nonzero_velocity_at_trajectory_end=True)
    check_goal(moving_end, ["a", "b"], [P(1.0, [0.0, 0.0], [1.0, 0.0])], now_s=0.0)


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="unique"):
        ControllerConfig(action_name="/x", joints=("a", "a"))
    with pytest.raises(ValueError, match="1 or 2 values"):
        two_joint(goal_tolerance_rad=(0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match="goal_time_s"):
        two_joint(goal_time_s=-1.0)


# --- sampling ---
def test_linear_when_only_positions_from_the_measured_start():
    trajectory = SplineTrajectory([P(1.0, [1.0, -2.0]), P(3.0, [2.0, 0.0])], np.array([0.0, 0.0]),
                                  np.array([5.0, 5.0]))  # start velocity ignored: the point has none
    assert trajectory.duration_s == 3.0
    s = trajectory.sample(0.5)
    np.testing.assert_allclose(s.positions, [0.5, -1.0])
    np.testing.assert_allclose(s.velocities, [1.0, -2.0])
    np.testing.assert_allclose(trajectory.sample(2.0).positions, [1.5, -1.0])
    np.testing.assert_allclose(trajectory.sample(9.0).positions, [2.0, 0.0])  # held after the end


def test_cubic_hermite_when_velocities_are_given():
    # From rest at 0 to 1 rad at rest at T = 2: the Hermite cubic is 3s^2 - 2s^3 (s = t / T).
    trajectory = SplineTrajectory([P(2.0, [1.0], [0.0])], np.array([0.0]), np.array([0.0]))
    for t in (0.0, 0.5, 1.0, 1.5, 2.0):
        s = t / 2.0
        sample = trajectory.sample(t)
        assert sample.positions[0] == pytest.approx(3 * s**2 - 2 * s**3)
        assert sample.velocities[0] == pytest.approx((6 * s - 6 * s**2) / 2.0)
    # ends and velocities through an intermediate point match the points
    trajectory = SplineTrajectory([P(1.0, [1.0], [0.5]), P(2.0, [3.0], [0.0])], np.array([0.2]), np.array([0.1]))
    assert trajectory.sample(0.0).velocities[0] == pytest.approx(0.1)
    assert trajectory.sample(1.0 - 1e-9).positions[0] == pytest.approx(1.0)
    assert trajectory.sample(1.0 - 1e-9).velocities[0] == pytest.approx(0.5)
    assert trajectory.sample(1.0).positions[0] == pytest.approx(1.0)


def test_quintic_when_accelerations_are_given():
    # Between two points with positions, velocities and accelerations the quintic meets all six conditions.
    points = [P(0.0, [0.0], [1.0], [2.0]), P(1.5, [1.0], [-0.5], [0.3])]
    trajectory = SplineTrajectory(points, np.array([9.0]), np.array([9.0]))  # first point at t = 0: no start knot
    start, end = trajectory.sample(0.0), trajectory.sample(1.5 - 1e-9)
    np.testing.assert_allclose([start.positions[0], start.velocities[0], start.accelerations[0]], [0, 1, 2])
    np.testing.assert_allclose([end.positions[0], end.velocities[0], end.accelerations[0]], [1.0, -0.5, 0.3],
                               atol=1e-6)
    # velocity is the derivative of position
    t, h = 0.7, 1e-6
    numeric = (trajectory.sample(t + h).positions - trajectory.sample(t - h).positions) / (2 * h)
    np.testing.assert_allclose(trajectory.sample(t).velocities, numeric, rtol=1e-6)


# --- tolerances ---
def run(config, tolerances_args=((), (), 0.0), positions=None, velocities=None, times=(0.0, 0.5, 1.0, 1.2)):
    """Monitor a 1 s move of joints a, b from 0 to 1 rad; the plant follows `positions(t)` (default: exactly)."""
    goal = check_goal(config, ["a", "b"], [P(1.0, [1.0, 1.0])], now_s=0.0)
    tolerances, warning = resolve_tolerances(config, *tolerances_args)
    monitor = GoalMonitor(goal, SplineTrajectory(goal.points, np.zeros(2), np.zeros(2)), tolerances)
    for t in times:
        desired = monitor.trajectory.sample(t)
        actual = desired.positions if positions is None else positions(t)
        actual_velocity = np.zeros(2) if velocities is None else velocities(t)
        _, error, outcome = monitor.step(t, actual, actual_velocity)
        if outcome is not None:
            return outcome, t, warning
    return None, times[-1], warning


def test_exact_tracking_succeeds_at_the_end():
    outcome, t, _ = run(two_joint(path_tolerance_rad=(0.01,), goal_tolerance_rad=(0.01,)))
    assert outcome.code == ErrorCode.SUCCESSFUL and t == 1.0


def test_path_tolerance_names_the_joint():
    lagging_b = lambda t: np.array([min(t, 1.0), 0.0])  # noqa: E731  joint b never moves
    outcome, t, _ = run(two_joint(path_tolerance_rad=(0.0, 0.2)), positions=lagging_b)
    assert outcome.code == ErrorCode.PATH_TOLERANCE_VIOLATED and outcome.joint == "b" and t == 0.5
    assert "joint b left its path tolerance" in outcome.reason
    # unchecked (0) path tolerance: the same lag runs to the end and waits there (goal_time 0: no deadline)
    outcome, _, _ = run(two_joint(goal_tolerance_rad=(0.1,)), positions=lagging_b)
    assert outcome is None


def test_goal_tolerance_and_goal_time():
    short_a = lambda t: np.array([0.8 * min(t, 1.0), min(t, 1.0)])  # noqa: E731  joint a stops at 0.8 rad
    config = two_joint(goal_tolerance_rad=(0.1,), goal_time_s=0.1)
    outcome, t, _ = run(config, positions=short_a)
    assert outcome.code == ErrorCode.GOAL_TOLERANCE_VIOLATED and outcome.joint == "a" and t == 1.2
    # within goal_time the goal waits for the joint, then succeeds when it arrives
    arrives = lambda t: np.array([min(t, 1.0) if t > 1.0 else 0.8 * t, t if t < 1 else 1.0])  # noqa: E731
    outcome, t, _ = run(config, positions=arrives, times=(0.5, 1.0, 1.05))
    assert outcome.code == ErrorCode.SUCCESSFUL and t == 1.05
    # unchecked goal tolerance (the hand's default): the end time is success, wherever the joints are
    outcome, t, _ = run(two_joint(), positions=short_a)
    assert outcome.code == ErrorCode.SUCCESSFUL and t == 1.0


def test_stopped_velocity_tolerance():
    still_moving = lambda t: np.array([0.5, 0.0])  # noqa: E731
    config = two_joint(stopped_velocity_tolerance_rad_s=0.01, goal_time_s=0.1)
    outcome, _, _ = run(config, velocities=still_moving)
    assert outcome.code == ErrorCode.GOAL_TOLERANCE_VIOLATED and outcome.joint == "a"
    assert "velocity error -0.5000" in outcome.reason


def test_goal_tolerances_override_defaults_as_jtc():
    short_a = lambda t: np.array([0.8 * min(t, 1.0), min(t, 1.0)])  # noqa: E731
    config = two_joint(goal_tolerance_rad=(0.1,), goal_time_s=0.1)
    # a wider tolerance on a, given by the goal, lets it succeed
    outcome, _, warning = run(config, ((), [JointToleranceSpec("a", position=0.3)], 0.0), positions=short_a)
    assert outcome.code == ErrorCode.SUCCESSFUL and warning == ""
    # -1 switches the check off
    outcome, _, _ = run(config, ((), [JointToleranceSpec("a", position=-1.0)], 0.0), positions=short_a)
    assert outcome.code == ErrorCode.SUCCESSFUL
    # a path tolerance from the goal is checked while moving
    outcome, _, _ = run(two_joint(), ([JointToleranceSpec("a", position=0.05)], (), 0.0), positions=short_a)
    assert outcome.code == ErrorCode.PATH_TOLERANCE_VIOLATED and outcome.joint == "a"
    # an unknown joint or an illegal value: all defaults, with a warning
    for spec in (JointToleranceSpec("elbow", position=0.3), JointToleranceSpec("a", position=-2.0)):
        tolerances, warning = resolve_tolerances(config, (), [spec], 0.0)
        assert "default tolerances" in warning
        np.testing.assert_array_equal(tolerances.goal_rad, [0.1, 0.1])
    tolerances, _ = resolve_tolerances(config, (), (), 2.5)
    assert tolerances.goal_time_s == 2.5


def test_arm_defaults_are_ros2_kortex_and_hand_goal_is_unchecked():
    arm = ARM.default_tolerances()
    assert NAMES == [f"joint_{i}" for i in range(1, 8)]
    assert ARM.action_name == "/joint_trajectory_controller/follow_joint_trajectory"
    assert not ARM.allow_partial_joints_goal and arm.goal_time_s == 0.0
    for values in (arm.path_rad, arm.goal_rad, arm.goal_velocity_rad_s):
        np.testing.assert_array_equal(values, 0.0)
    hand = hand_controller()
    assert hand.joints == tuple(str(i) for i in range(16)) and hand.action_name == "/leap_hand/follow_joint_trajectory"
    np.testing.assert_array_equal(hand.default_tolerances().goal_rad, 0.0)
    assert hand.stopped_velocity_tolerance_rad_s == 0.0
