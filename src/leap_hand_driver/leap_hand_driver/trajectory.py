"""Sampling a joint trajectory in time (no ROS types: arrays in, arrays out)."""

from __future__ import annotations

import numpy as np


class LinearTrajectory:
    """Piecewise-linear positions through waypoints, starting from `start` at t = 0.

    times_s: (K,) strictly increasing, >= 0; positions: (K, J); start: (J,). Point velocities are not
    used: between waypoints the joints move at constant speed, which is what a hand with position
    servos can follow at a 100 Hz command rate.
    """

    def __init__(self, start: np.ndarray, times_s: np.ndarray, positions: np.ndarray):
        times_s = np.asarray(times_s, dtype=float)
        positions = np.asarray(positions, dtype=float)
        start = np.asarray(start, dtype=float)
        if times_s.ndim != 1 or len(times_s) == 0:
            raise ValueError("a trajectory needs at least one point")
        if positions.shape != (len(times_s), start.shape[0]):
            raise ValueError(f"positions have shape {positions.shape}, expected {(len(times_s), start.shape[0])}")
        if not np.all(np.isfinite(positions)) or not np.all(np.isfinite(times_s)):
            raise ValueError("trajectory positions and times must be finite")
        if times_s[0] < 0 or np.any(np.diff(times_s) <= 0):
            raise ValueError(f"time_from_start must be >= 0 and strictly increasing, got {times_s.tolist()}")
        if times_s[0] > 0:
            times_s = np.concatenate([[0.0], times_s])
            positions = np.concatenate([start[None], positions])
        self.times_s = times_s
        self.positions = positions

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    def sample(self, t_s: float) -> np.ndarray:
        """Positions (J,) at time t_s (held at the ends)."""
        return np.array([np.interp(t_s, self.times_s, self.positions[:, j]) for j in range(self.positions.shape[1])])
