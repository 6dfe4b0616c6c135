"""Joint trajectories: the planner's output, the validator's input, the ROS node's message payload."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointTrajectory:
    """Time-parameterised joint motion. T samples of D joints, times strictly increasing from 0."""

    joint_names: tuple[str, ...]
    positions: np.ndarray  # (T, D) rad
    velocities: np.ndarray  # (T, D) rad/s
    accelerations: np.ndarray  # (T, D) rad/s^2
    times_s: np.ndarray  # (T,)

    def __post_init__(self) -> None:
        d = len(self.joint_names)
        t = len(self.times_s)
        for name in ("positions", "velocities", "accelerations"):
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != (t, d):
                raise ValueError(f"{name} must have shape ({t}, {d}), got {value.shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"{name} contains NaN or inf")
            object.__setattr__(self, name, value)
        times = np.asarray(self.times_s, dtype=float)
        if t < 1 or times[0] != 0.0 or np.any(np.diff(times) <= 0):
            raise ValueError("times_s must start at 0 and increase strictly")
        object.__setattr__(self, "times_s", times)

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    @staticmethod
    def concatenate(parts: list["JointTrajectory"]) -> "JointTrajectory":
        """Join trajectories of the same joints that meet at rest (the end of one is the start of the next)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        names = parts[0].joint_names
        pos, vel, acc, times = [parts[0].positions], [parts[0].velocities], [parts[0].accelerations], [parts[0].times_s]
        offset = parts[0].duration_s
        for part in parts[1:]:
            if part.joint_names != names:
                raise ValueError("trajectories to concatenate must share joint names")
            if np.abs(part.positions[0] - pos[-1][-1]).max() > 1e-6:
                raise ValueError("trajectories to concatenate must meet: one's end differs from the next's start")
            pos.append(part.positions[1:])
            vel.append(part.velocities[1:])
            acc.append(part.accelerations[1:])
            times.append(part.times_s[1:] + offset)
            offset += part.duration_s
        return JointTrajectory(names, np.concatenate(pos), np.concatenate(vel), np.concatenate(acc),
                               np.concatenate(times))
