"""Time parameterisation within joint velocity/acceleration limits (toppra), sampled at a fixed period.

Joint-space plans (OMPL polylines) are parameterised one straight segment at a time, stopping at every vertex:
the executed path is then exactly the polyline that was collision-checked. On a straight segment the
time-optimal profile under per-joint velocity/acceleration boxes is closed-form (accelerate at the tightest
joint's limit, coast at the tightest speed, brake), which is what toppra converges to; it is computed directly.
Dense Cartesian paths (1 mm IK steps) are parameterised as one spline; toppra enforces limits only at its grid
points, so the sampled result is measured and re-timed with tighter limits until it complies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from flash_core.planning.trajectory import JointTrajectory


@dataclass(frozen=True)
class TimingConfig:
    sample_period_s: float = 0.01
    # Fraction of the hardware limits the plan may use: headroom for tracking error on the real arm.
    velocity_scale: float = 1.0
    acceleration_scale: float = 1.0
    spline_gridpoints_per_waypoint: int = 2
    spline_retime_factor: float = 0.8  # limits shrink by this when a spline sample exceeds them
    spline_max_retimes: int = 6


def _toppra_quiet():
    import toppra

    logging.getLogger("toppra").setLevel(logging.WARNING)
    return toppra


def _parameterise(path, vmax: np.ndarray, amax: np.ndarray, gridpoints: np.ndarray | None):
    ta = _toppra_quiet()
    constraints = [
        ta.constraint.JointVelocityConstraint(np.stack([-vmax, vmax], axis=1)),
        ta.constraint.JointAccelerationConstraint(np.stack([-amax, amax], axis=1)),
    ]
    algorithm = ta.algorithm.TOPPRA(constraints, path, gridpoints=gridpoints, parametrizer="ParametrizeConstAccel")
    trajectory = algorithm.compute_trajectory(0.0, 0.0)
    if trajectory is None:
        raise RuntimeError("toppra found no time parameterisation (limits infeasible for this path)")
    return trajectory


def _sample(trajectory, period_s: float) -> tuple[np.ndarray, ...]:
    duration = float(trajectory.duration)
    count = max(2, int(np.ceil(duration / period_s)) + 1)
    times = np.linspace(0.0, duration, count)
    return times, trajectory(times), trajectory(times, 1), trajectory(times, 2)


def _rest_to_rest_profile(delta: np.ndarray, vmax: np.ndarray, amax: np.ndarray, period_s: float):
    """Time-optimal s(t) in [0, 1] along q = start + s * delta (D,): times (T,), s, ds/dt, d2s/dt2 (T,)."""
    moving = np.abs(delta) > 0.0
    speed = float(np.min(vmax[moving] / np.abs(delta[moving])))  # path speed limit (1/s)
    accel = float(np.min(amax[moving] / np.abs(delta[moving])))  # path acceleration limit (1/s^2)
    ramp_s = min(speed / accel, np.sqrt(1.0 / accel))  # triangular when top speed is not reached
    peak = accel * ramp_s
    cruise_s = (1.0 - peak * ramp_s) / peak
    duration = 2.0 * ramp_s + cruise_s
    times = np.linspace(0.0, duration, max(2, int(np.ceil(duration / period_s)) + 1))
    braking = np.maximum(times - ramp_s - cruise_s, 0.0)
    accelerating = np.minimum(times, ramp_s)
    coasting = np.clip(times - ramp_s, 0.0, cruise_s)
    s = 0.5 * accel * accelerating**2 + peak * coasting + peak * braking - 0.5 * accel * braking**2
    ds = accel * accelerating - accel * braking
    dds = np.where(times < ramp_s, accel, np.where(times > ramp_s + cruise_s, -accel, 0.0))
    return times, np.clip(s, 0.0, 1.0), ds, dds


def time_parameterise_polyline(joint_names: tuple[str, ...], waypoints: np.ndarray, vmax: np.ndarray,
                               amax: np.ndarray, config: TimingConfig | None = None) -> JointTrajectory:
    """waypoints (K, D) joined by straight segments, each from rest to rest."""
    config = config or TimingConfig()
    waypoints = np.asarray(waypoints, dtype=float)
    vmax = np.asarray(vmax, dtype=float) * config.velocity_scale
    amax = np.asarray(amax, dtype=float) * config.acceleration_scale
    parts: list[JointTrajectory] = []
    for start, end in zip(waypoints[:-1], waypoints[1:]):
        if np.abs(end - start).max() < 1e-9:
            continue
        times, s, ds, dds = _rest_to_rest_profile(end - start, vmax, amax, config.sample_period_s)
        delta = end - start
        pos = start + s[:, None] * delta
        pos[0], pos[-1] = start, end  # exact vertices, so segments meet bit-for-bit
        parts.append(JointTrajectory(joint_names, pos, ds[:, None] * delta, dds[:, None] * delta, times))
    if not parts:
        return stationary(joint_names, waypoints[0])
    return JointTrajectory.concatenate(parts)


def time_parameterise_spline(joint_names: tuple[str, ...], waypoints: np.ndarray, vmax: np.ndarray,
                             amax: np.ndarray, config: TimingConfig | None = None) -> JointTrajectory:
    """A smooth pass through dense waypoints (K, D), rest to rest, re-timed until samples obey the limits."""
    config = config or TimingConfig()
    ta = _toppra_quiet()
    waypoints = np.asarray(waypoints, dtype=float)
    if len(waypoints) < 3:
        return time_parameterise_polyline(joint_names, waypoints, vmax, amax, config)
    steps = np.linalg.norm(np.diff(waypoints, axis=0), axis=1)
    keep = np.concatenate([[True], steps > 1e-9])
    waypoints = waypoints[keep]
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(waypoints, axis=0), axis=1))])
    s /= s[-1]
    path = ta.SplineInterpolator(s, waypoints)
    gridpoints = np.linspace(0.0, 1.0, config.spline_gridpoints_per_waypoint * len(waypoints))
    vmax_hw = np.asarray(vmax, dtype=float) * config.velocity_scale
    amax_hw = np.asarray(amax, dtype=float) * config.acceleration_scale
    scale = 1.0
    for _ in range(config.spline_max_retimes + 1):
        times, pos, vel, acc = _sample(_parameterise(path, vmax_hw * scale, amax_hw * scale, gridpoints),
                                       config.sample_period_s)
        if np.all(np.abs(vel) <= vmax_hw + 1e-9) and np.all(np.abs(acc) <= amax_hw + 1e-9):
            pos[0], pos[-1] = waypoints[0], waypoints[-1]
            return JointTrajectory(joint_names, pos, vel, acc, times)
        scale *= config.spline_retime_factor
    raise RuntimeError("could not time the Cartesian path within the joint limits")


def minimum_jerk(joint_names: tuple[str, ...], start: np.ndarray, end: np.ndarray, duration_s: float,
                 period_s: float = 0.01) -> JointTrajectory:
    """Straight joint motion start -> end with the quintic minimum-jerk profile (for the hand)."""
    start, end = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    times = np.linspace(0.0, duration_s, max(2, int(np.ceil(duration_s / period_s)) + 1))
    tau = times / duration_s
    s = 10 * tau**3 - 15 * tau**4 + 6 * tau**5  # (T,)
    ds = (30 * tau**2 - 60 * tau**3 + 30 * tau**4) / duration_s
    dds = (60 * tau - 180 * tau**2 + 120 * tau**3) / duration_s**2
    delta = end - start
    return JointTrajectory(joint_names, start + s[:, None] * delta, ds[:, None] * delta, dds[:, None] * delta, times)


def stationary(joint_names: tuple[str, ...], q: np.ndarray) -> JointTrajectory:
    """A single-sample trajectory holding q (for segments with nothing to move)."""
    q = np.asarray(q, dtype=float)[None]
    return JointTrajectory(joint_names, q, np.zeros_like(q), np.zeros_like(q), np.zeros(1))
