"""Independent check of a timed trajectory: dense distances along it and limits from finite differences.

Written apart from the planner's checks on purpose: the planner tests discrete states with margins; this
re-samples the TIMED trajectory (what the controller will interpolate) so that no joint moves more than
`max_joint_step_rad` between checks, tests the same allowed-collision pairs for true contact (no margin), and
differentiates the sampled positions itself instead of trusting the velocities/accelerations the
parameteriser reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flash_core.planning.collision import CollisionChecker
from flash_core.planning.trajectory import JointTrajectory


@dataclass(frozen=True)
class ValidationConfig:
    max_joint_step_rad: float = 0.002
    environment_margin_m: float = 0.0  # robot-environment pairs must stay this far apart
    limit_tolerance: float = 0.02  # relative: finite differences of sampled splines carry small errors


@dataclass
class ValidationReport:
    ok: bool = True
    n_checked: int = 0  # configurations checked for collisions
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.ok = False
        if len(self.problems) < 20:
            self.problems.append(message)


def _densify(trajectory: JointTrajectory, max_step_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, D) positions and (K,) times, linearly sub-sampled so no joint moves more than max_step_rad."""
    pos, times = trajectory.positions, trajectory.times_s
    if len(pos) == 1:
        return pos, times
    steps = np.abs(np.diff(pos, axis=0)).max(axis=1)
    counts = np.maximum(1, np.ceil(steps / max_step_rad).astype(int))
    out_q, out_t = [pos[:1]], [times[:1]]
    for k, n in enumerate(counts):
        alpha = (np.arange(1, n + 1) / n)[:, None]
        out_q.append(pos[k] + alpha * (pos[k + 1] - pos[k]))
        out_t.append(times[k] + alpha[:, 0] * (times[k + 1] - times[k]))
    return np.concatenate(out_q), np.concatenate(out_t)


def validate_trajectory(trajectory: JointTrajectory, checker: CollisionChecker, held_q: np.ndarray,
                        *, allow_hand_object: bool = False, vmax: np.ndarray | None = None,
                        amax: np.ndarray | None = None, config: ValidationConfig | None = None) -> ValidationReport:
    """Check a trajectory of arm or hand joints; held_q (23,) gives the joints it does not move."""
    import pinocchio as pin

    config = config or ValidationConfig()
    report = ValidationReport()
    robot = checker.robot
    index = [robot.joint_names.index(name) for name in trajectory.joint_names]

    # Position limits (continuous arm joints have none).
    limited = np.array([not (i < robot.n_arm and robot.continuous[i]) for i in index])
    lower, upper = robot.lower_rad[index], robot.upper_rad[index]
    over = (trajectory.positions < lower - 1e-6) | (trajectory.positions > upper + 1e-6)
    for j in np.flatnonzero((over & limited).any(axis=0)):
        report.fail(f"{trajectory.joint_names[j]} leaves its position limits")

    # Velocity and acceleration from finite differences of the positions.
    if len(trajectory.times_s) > 2:
        dt = np.diff(trajectory.times_s)[:, None]
        velocity = np.diff(trajectory.positions, axis=0) / dt  # (T-1, D)
        acceleration = np.diff(velocity, axis=0) / (0.5 * (dt[1:] + dt[:-1]))  # (T-2, D)
        for name, value, limit in (("velocity", velocity, vmax), ("acceleration", acceleration, amax)):
            if limit is None:
                continue
            ratio = np.abs(value).max(axis=0) / np.asarray(limit)
            for j in np.flatnonzero(ratio > 1.0 + config.limit_tolerance):
                report.fail(f"{trajectory.joint_names[j]} {name} reaches {ratio[j]:.2f}x its limit")

    # Dense collision re-check on the checker's pairs WITHOUT its margins: true contact is the failure.
    gdata = checker.geometry.createData()
    for k in range(len(gdata.collisionRequests)):
        margin = config.environment_margin_m if checker.is_environment_pair(k) else 0.0
        gdata.collisionRequests[k].security_margin = margin
    if allow_hand_object:
        for k in checker.hand_object_pair_indices:
            gdata.deactivateCollisionPair(int(k))
    data = robot.model.createData()
    q = np.asarray(held_q, dtype=float).copy()
    dense_q, dense_t = _densify(trajectory, config.max_joint_step_rad)
    report.n_checked = len(dense_q)
    for sample_q, t in zip(dense_q, dense_t):
        q[index] = sample_q
        if pin.computeCollisions(robot.model, data, checker.geometry, gdata, q, True):
            pin.computeCollisions(robot.model, data, checker.geometry, gdata, q, False)
            hits = [checker.pair_names[k] for k, result in enumerate(gdata.collisionResults)
                    if gdata.activeCollisionPairs[k] and result.isCollision()]
            report.fail(f"t={t:.3f} s: contact between {hits}")
            if len(report.problems) >= 5:
                break
    return report
