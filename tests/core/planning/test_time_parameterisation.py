"""toppra timing within the Gen3 limits, checked by finite differences; trajectory container checks."""

import numpy as np
import pytest

from flash_core.planning import JointTrajectory
from flash_core.planning.description import ARM_ACCELERATION_LIMITS_RAD_S2 as AMAX
from flash_core.planning.description import ARM_VELOCITY_LIMITS_RAD_S as VMAX
from flash_core.planning.timing import minimum_jerk, time_parameterise_polyline, time_parameterise_spline

NAMES = tuple(f"joint_{i}" for i in range(1, 8))


def _finite_difference_ratios(traj):
    dt = np.diff(traj.times_s)[:, None]
    vel = np.diff(traj.positions, axis=0) / dt
    acc = np.diff(vel, axis=0) / dt[1:]
    return np.abs(vel).max(axis=0) / VMAX, np.abs(acc).max(axis=0) / AMAX


def _distance_to_polyline(point, waypoints):
    best = np.inf
    for a, b in zip(waypoints[:-1], waypoints[1:]):
        t = np.clip(np.dot(point - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
        best = min(best, np.linalg.norm(a + t * (b - a) - point))
    return best


def test_polyline_respects_limits_and_stays_on_the_path():
    rng = np.random.default_rng(4)
    waypoints = np.cumsum(rng.uniform(-1.0, 1.0, (4, 7)), axis=0)
    traj = time_parameterise_polyline(NAMES, waypoints, VMAX, AMAX)
    np.testing.assert_allclose(traj.positions[0], waypoints[0])
    np.testing.assert_allclose(traj.positions[-1], waypoints[-1])
    vel_ratio, acc_ratio = _finite_difference_ratios(traj)
    assert vel_ratio.max() <= 1.0 + 1e-6 and acc_ratio.max() <= 1.0 + 1e-6
    assert max(vel_ratio.max(), acc_ratio.max()) > 0.9  # and it actually uses them (time-optimal)
    assert max(_distance_to_polyline(p, waypoints) for p in traj.positions) < 1e-9
    for vertex in waypoints:  # it stops at every vertex
        k = np.argmin(np.linalg.norm(traj.positions - vertex, axis=1))
        assert np.abs(traj.velocities[k]).max() < 1e-6


def test_straight_segment_is_no_slower_than_toppra():
    """The closed-form rest-to-rest profile against toppra's time-optimal parameterisation of the same line."""
    import toppra as ta

    rng = np.random.default_rng(7)
    for scale in (0.02, 0.3, 2.0):  # triangular (top speed never reached) to long cruises
        delta = rng.uniform(-1.0, 1.0, 7) * scale
        ours = time_parameterise_polyline(NAMES, np.stack([np.zeros(7), delta]), VMAX, AMAX)
        path = ta.SplineInterpolator([0.0, 1.0], np.stack([np.zeros(7), delta]), bc_type="natural")
        constraints = [ta.constraint.JointVelocityConstraint(np.stack([-VMAX, VMAX], axis=1)),
                       ta.constraint.JointAccelerationConstraint(np.stack([-AMAX, AMAX], axis=1))]
        reference = ta.algorithm.TOPPRA(constraints, path, gridpoints=np.linspace(0.0, 1.0, 101),
                                        parametrizer="ParametrizeConstAccel").compute_trajectory(0.0, 0.0)
        assert ours.duration_s <= float(reference.duration) * 1.001
        assert ours.duration_s >= float(reference.duration) * 0.98  # no faster than the limits allow
        vel_ratio, acc_ratio = _finite_difference_ratios(ours)
        assert vel_ratio.max() <= 1.0 + 1e-6 and acc_ratio.max() <= 1.0 + 1e-6


def test_spline_through_dense_waypoints_respects_limits():
    s = np.linspace(0.0, 1.0, 101)[:, None]
    waypoints = np.hstack([np.sin(2 * s), 0.3 * s, s**2, -s, 0.2 * np.cos(3 * s), s, 0.1 * s])
    traj = time_parameterise_spline(NAMES, waypoints, VMAX, AMAX)
    vel_ratio, acc_ratio = _finite_difference_ratios(traj)
    assert vel_ratio.max() <= 1.02 and acc_ratio.max() <= 1.02
    np.testing.assert_allclose(traj.positions[[0, -1]], waypoints[[0, -1]])


def test_minimum_jerk_hand_motion():
    start, end = np.zeros(16), np.linspace(0.1, 1.0, 16)
    traj = minimum_jerk(tuple(map(str, range(16))), start, end, 1.5)
    np.testing.assert_allclose(traj.positions[[0, -1]], [start, end])
    np.testing.assert_allclose(traj.velocities[[0, -1]], 0.0, atol=1e-12)
    assert traj.duration_s == pytest.approx(1.5)
    # peak speed of the quintic profile is 15/8 of the mean speed
    assert np.abs(traj.velocities).max(axis=0) == pytest.approx(1.875 * end / 1.5, rel=1e-3)


def test_trajectory_rejects_inconsistent_data():
    ok = dict(joint_names=("a", "b"), positions=np.zeros((3, 2)), velocities=np.zeros((3, 2)),
              accelerations=np.zeros((3, 2)), times_s=np.array([0.0, 0.1, 0.2]))
    JointTrajectory(**ok)
    with pytest.raises(ValueError, match="positions"):
        JointTrajectory(**{**ok, "positions": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="NaN"):
        JointTrajectory(**{**ok, "velocities": np.full((3, 2), np.nan)})
    with pytest.raises(ValueError, match="times_s"):
        JointTrajectory(**{**ok, "times_s": np.array([0.0, 0.2, 0.1])})
