"""Trajectory tracking as ros2_control's joint_trajectory_controller (JTC) does it, without ROS types.

The simulator's FollowJointTrajectory servers (`flash_sim.trajectory_node`) stand in for JTC on top of
topic_based_ros2_control on machines without ros2_control; this module holds everything they decide:

- `TrajectoryPoint`, `check_goal`: the goal checks JTC makes before accepting a trajectory (joint names known
  and unique, all joints unless partial goals are allowed, vector sizes, finite values, strictly increasing
  `time_from_start`, zero velocity at the end, a header stamp that does not end in the past). A refused goal
  raises `GoalRejected` carrying control_msgs' error code (INVALID_JOINTS, INVALID_GOAL, OLD_HEADER_TIMESTAMP)
  and a reason naming the joint or point.
- `SplineTrajectory`: JTC's "spline" interpolation. A segment is quintic when both of its ends give
  accelerations, cubic Hermite when both give velocities, linear otherwise; the trajectory starts from the
  measured state at time 0 (positions and velocities, no accelerations, as JTC's state before the message
  when the hardware has position and velocity state interfaces) unless the first point is at time 0.
- `Tolerances`, `resolve_tolerances`, `GoalMonitor`: JTC's path and goal tolerances. Per joint, `path_rad`
  (JTC `constraints.<joint>.trajectory`) is checked while the trajectory runs (and on the first sample) and
  `goal_rad` (`constraints.<joint>.goal`) with `stopped_velocity_rad_s` at the end; 0 means not checked.
  After the last point's time the goal succeeds once every joint is within its goal tolerance; with
  `goal_time_s` > 0 it aborts with GOAL_TOLERANCE_VIOLATED once the end is that late, with 0 it waits as long
  as it takes (JTC's semantics). A goal's own tolerances override the defaults: > 0 replaces, 0 keeps the
  default, -1 switches the check off, any other negative value or an unknown joint keeps all defaults (JTC
  `get_segment_tolerances`, ros2_controllers joint_trajectory_controller/src/tolerances.cpp).

Default tolerances (see `arm_controller` and `hand_controller`):
- arm: exactly ros2_kortex's Gen3 7-DoF JTC configuration (kortex_description/arms/gen3/7dof/config/
  ros2_controllers.yaml): `stopped_velocity_tolerance: 0.0`, `goal_time: 0.0`, no per-joint constraints, hence
  JTC's per-joint defaults 0 (unchecked), and `allow_partial_joints_goal: false`; JTC's default
  `allow_nonzero_velocity_at_trajectory_end: false`. A kortex goal thus succeeds when its last point's time
  is reached, unless the goal itself sets tolerances (pick and MoveIt clients may).
- hand: goal position tolerance unchecked and no stopped-velocity check, on purpose: a dexterous hand closing
  on an object stops at the object's surface, short of the commanded (interpenetrating) targets, and keeps
  pressing; a checked goal tolerance would fail every successful grasp. Path tolerance unchecked for the same
  reason (the fingers lag behind the reference once they touch). Partial goals are allowed, as the LEAP
  hand driver allows them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from flash_core.hands.spec import load_spec
from flash_core.planning.description import ARM_JOINT_NAMES


class ErrorCode(IntEnum):
    """control_msgs/action/FollowJointTrajectory result codes (the message's own values)."""

    SUCCESSFUL = 0
    INVALID_GOAL = -1
    INVALID_JOINTS = -2
    OLD_HEADER_TIMESTAMP = -3
    PATH_TOLERANCE_VIOLATED = -4
    GOAL_TOLERANCE_VIOLATED = -5


class GoalRejected(ValueError):
    """A goal JTC would refuse; `code` is the FollowJointTrajectory error code, str(self) the reason."""

    def __init__(self, code: ErrorCode, reason: str):
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class ControllerConfig:
    """One FollowJointTrajectory server: its action, joints and JTC constraints (0 = not checked).

    `path_tolerance_rad` and `goal_tolerance_rad` hold one value per joint, or one value for all joints.
    """

    action_name: str
    joints: tuple[str, ...]
    path_tolerance_rad: tuple[float, ...] = (0.0,)
    goal_tolerance_rad: tuple[float, ...] = (0.0,)
    stopped_velocity_tolerance_rad_s: float = 0.0
    goal_time_s: float = 0.0
    allow_partial_joints_goal: bool = False
    allow_nonzero_velocity_at_trajectory_end: bool = False

    def __post_init__(self):
        if not self.action_name:
            raise ValueError("action_name must not be empty")
        if not self.joints or len(set(self.joints)) != len(self.joints):
            raise ValueError(f"{self.action_name}: joints must be non-empty and unique, got {list(self.joints)}")
        for what, values in (("path_tolerance_rad", self.path_tolerance_rad),
                             ("goal_tolerance_rad", self.goal_tolerance_rad)):
            if len(values) not in (1, len(self.joints)) or not all(math.isfinite(v) and v >= 0 for v in values):
                raise ValueError(f"{self.action_name}: {what} needs 1 or {len(self.joints)} values >= 0, "
                                 f"got {list(values)}")
        for what, value in (("stopped_velocity_tolerance_rad_s", self.stopped_velocity_tolerance_rad_s),
                            ("goal_time_s", self.goal_time_s)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{self.action_name}: {what} must be >= 0, got {value}")

    def default_tolerances(self) -> Tolerances:
        n = len(self.joints)
        return Tolerances(
            path_rad=np.broadcast_to(np.asarray(self.path_tolerance_rad, dtype=float), (n,)).copy(),
            path_velocity_rad_s=np.zeros(n),
            goal_rad=np.broadcast_to(np.asarray(self.goal_tolerance_rad, dtype=float), (n,)).copy(),
            goal_velocity_rad_s=np.full(n, self.stopped_velocity_tolerance_rad_s),
            goal_time_s=self.goal_time_s,
        )


def arm_controller() -> ControllerConfig:
    """ros2_kortex's joint_trajectory_controller for the Gen3 7-DoF (see the module docstring)."""
    return ControllerConfig(action_name="/joint_trajectory_controller/follow_joint_trajectory",
                            joints=ARM_JOINT_NAMES)


def hand_controller() -> ControllerConfig:
    """The LEAP hand, joints named as its driver names them ("0".."15"); goal tolerance unchecked (see above)."""
    return ControllerConfig(action_name="/leap_hand/follow_joint_trajectory",
                            joints=tuple(load_spec("leap").joint_names), allow_partial_joints_goal=True)


@dataclass(frozen=True)
class TrajectoryPoint:
    """One trajectory_msgs/JointTrajectoryPoint: each vector empty or one value per goal joint."""

    time_s: float
    positions: Sequence[float]
    velocities: Sequence[float] = ()
    accelerations: Sequence[float] = ()


@dataclass(frozen=True)
class JointToleranceSpec:
    """One control_msgs/JointTolerance of a goal (position and velocity; >0 set, 0 default, -1 off)."""

    name: str
    position: float = 0.0
    velocity: float = 0.0


@dataclass(frozen=True)
class Tolerances:
    """Per controller joint (J,): path and goal limits on |desired - actual|; 0 = not checked."""

    path_rad: np.ndarray
    path_velocity_rad_s: np.ndarray
    goal_rad: np.ndarray
    goal_velocity_rad_s: np.ndarray  # JTC puts stopped_velocity_tolerance here
    goal_time_s: float


def _resolve(default: float, requested: float) -> float:
    """JTC's resolve_tolerance_source: > 0 replaces, -1 erases (0 = unchecked), 0 keeps, other < 0 is illegal."""
    if requested > 0.0:
        return requested
    if requested == -1.0:
        return 0.0
    if requested < 0.0 or not math.isfinite(requested):
        raise ValueError(f"illegal tolerance {requested}")
    return default


def resolve_tolerances(config: ControllerConfig, path: Sequence[JointToleranceSpec],
                       goal: Sequence[JointToleranceSpec], goal_time_s: float) -> tuple[Tolerances, str]:
    """The tolerances a goal runs under, and a warning ('' if none) when its own were unusable.

    As JTC: a tolerance for a joint the controller does not have, or an illegal value, makes the whole goal
    run under the controller's defaults (with a warning), it is not rejected.
    """
    defaults = config.default_tolerances()
    index = {name: j for j, name in enumerate(config.joints)}
    try:
        resolved_goal_time_s = _resolve(defaults.goal_time_s, goal_time_s)
        arrays = {k: getattr(defaults, k).copy() for k in ("path_rad", "path_velocity_rad_s", "goal_rad",
                                                             "goal_velocity_rad_s")}
        for specs, position_key, velocity_key, what in ((path, "path_rad", "path_velocity_rad_s", "path"),
                                                         (goal, "goal_rad", "goal_velocity_rad_s", "goal")):
            for spec in specs:
                if spec.name not in index:
                    raise ValueError(f"{what} tolerance for unknown joint {spec.name!r}")
                j = index[spec.name]
                arrays[position_key][j] = _resolve(arrays[position_key][j], spec.position)
                arrays[velocity_key][j] = _resolve(arrays[velocity_key][j], spec.velocity)
    except ValueError as exc:
        return defaults, f"{exc}: using the controller's default tolerances"
    return Tolerances(goal_time_s=resolved_goal_time_s, **arrays), ""


@dataclass(frozen=True)
class CheckedGoal:
    """A goal that passed `check_goal`: `columns[k]` is the controller joint of goal joint k."""

    joint_names: tuple[str, ...]
    columns: np.ndarray  # (G,) int
    points: tuple[TrajectoryPoint, ...]
    start_time_s: float | None  # header stamp in the node's clock (None: start at once)


def check_goal(config: ControllerConfig, joint_names: Sequence[str], points: Sequence[TrajectoryPoint],
               now_s: float, header_stamp_s: float = 0.0) -> CheckedGoal:
    """Refuse what JTC refuses (raises GoalRejected with its code and a reason); `now_s` in the node's clock."""
    names = [str(n) for n in joint_names]
    if not names:
        raise GoalRejected(ErrorCode.INVALID_JOINTS, "the trajectory names no joints")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise GoalRejected(ErrorCode.INVALID_JOINTS, f"joints named more than once: {repeated}")
    unknown = [n for n in names if n not in config.joints]
    if unknown:
        raise GoalRejected(ErrorCode.INVALID_JOINTS, f"unknown joints {unknown}; {config.action_name} controls "
                                                     f"{list(config.joints)}")
    if not config.allow_partial_joints_goal and len(names) != len(config.joints):
        missing = [n for n in config.joints if n not in names]
        raise GoalRejected(ErrorCode.INVALID_JOINTS, f"partial goals are not allowed; missing joints {missing}")
    if not points:
        raise GoalRejected(ErrorCode.INVALID_GOAL, "the trajectory has no points")
    previous_s = -math.inf
    for k, point in enumerate(points):
        if not math.isfinite(point.time_s) or point.time_s < 0:
            raise GoalRejected(ErrorCode.INVALID_GOAL, f"point {k}: time_from_start must be finite and >= 0, "
                                                       f"got {point.time_s}")
        if point.time_s <= previous_s:
            raise GoalRejected(ErrorCode.INVALID_GOAL, f"time_from_start must increase strictly: point {k - 1} at "
                                                       f"{previous_s} s, point {k} at {point.time_s} s")
        previous_s = point.time_s
        if len(point.positions) != len(names):
            raise GoalRejected(ErrorCode.INVALID_GOAL, f"point {k} has {len(point.positions)} positions for "
                                                       f"{len(names)} joints")
        for what, values in (("velocities", point.velocities), ("accelerations", point.accelerations)):
            if len(values) not in (0, len(names)):
                raise GoalRejected(ErrorCode.INVALID_GOAL, f"point {k} has {len(values)} {what} for "
                                                           f"{len(names)} joints (give none or one per joint)")
        for what, values in (("positions", point.positions), ("velocities", point.velocities),
                             ("accelerations", point.accelerations)):
            bad = [names[j] for j, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                raise GoalRejected(ErrorCode.INVALID_GOAL, f"point {k}: {what} of joints {bad} are not finite")
    last = points[-1]
    if not config.allow_nonzero_velocity_at_trajectory_end:
        # JTC: fabs(v) > numeric_limits<float>::epsilon(); planners' rest velocities carry ~1e-17 of round-off.
        moving = [names[j] for j, v in enumerate(last.velocities) if abs(v) > np.finfo(np.float32).eps]
        if moving:
            raise GoalRejected(ErrorCode.INVALID_GOAL, f"the last point's velocity is not zero for joints {moving}")
    start_time_s = None
    if header_stamp_s != 0.0:
        if not math.isfinite(header_stamp_s):
            raise GoalRejected(ErrorCode.INVALID_GOAL, f"header stamp {header_stamp_s} is not finite")
        if header_stamp_s + last.time_s < now_s:
            raise GoalRejected(ErrorCode.OLD_HEADER_TIMESTAMP,
                               f"the trajectory ends in the past ({header_stamp_s + last.time_s:.3f} s < now "
                               f"{now_s:.3f} s)")
        start_time_s = header_stamp_s
    columns = np.array([config.joints.index(n) for n in names], dtype=int)
    return CheckedGoal(tuple(names), columns, tuple(points), start_time_s)


@dataclass(frozen=True)
class Sample:
    """Desired state at one time, (G,) each (rad, rad/s, rad/s^2)."""

    positions: np.ndarray
    velocities: np.ndarray
    accelerations: np.ndarray


@dataclass
class _Knot:
    time_s: float
    p: np.ndarray
    v: np.ndarray | None
    a: np.ndarray | None


class SplineTrajectory:
    """JTC's "spline" interpolation through the goal's points, from the measured start state at t = 0.

    start_positions, start_velocities: (G,) measured when the goal starts (velocities None when the state has
    none); t is seconds since the start.
    """

    def __init__(self, points: Sequence[TrajectoryPoint], start_positions: np.ndarray,
                 start_velocities: np.ndarray | None = None):
        def array(values) -> np.ndarray | None:
            return np.asarray(values, dtype=float) if len(values) else None

        knots = [_Knot(p.time_s, np.asarray(p.positions, dtype=float), array(p.velocities), array(p.accelerations))
                 for p in points]
        if knots[0].time_s > 0.0:
            start_v = None if start_velocities is None else np.asarray(start_velocities, dtype=float)
            knots.insert(0, _Knot(0.0, np.asarray(start_positions, dtype=float), start_v, None))
        self._knots = knots

    @property
    def duration_s(self) -> float:
        return self._knots[-1].time_s

    def sample(self, t_s: float) -> Sample:
        knots = self._knots
        if t_s >= knots[-1].time_s or len(knots) == 1:
            last = knots[-1]  # held after the end, as JTC holds the last point
            zero = np.zeros_like(last.p)
            return Sample(last.p.copy(), zero if last.v is None else last.v.copy(),
                          zero if last.a is None else last.a.copy())
        times = [k.time_s for k in knots]
        i = max(0, int(np.searchsorted(times, t_s, side="right")) - 1)
        return _interpolate(knots[i], knots[i + 1], max(t_s, knots[i].time_s) - knots[i].time_s)


def _interpolate(a: _Knot, b: _Knot, t: float) -> Sample:
    """One segment, of the order both ends support (JTC's interpolate_between_points)."""
    T = b.time_s - a.time_s
    if a.v is None or b.v is None:  # linear: positions only
        velocity = (b.p - a.p) / T
        return Sample(a.p + velocity * t, velocity, np.zeros_like(a.p))
    if a.a is None or b.a is None:  # cubic Hermite: positions and velocities
        c0, c1 = a.p, a.v
        c2 = (3 * (b.p - a.p) - (2 * a.v + b.v) * T) / T**2
        c3 = (2 * (a.p - b.p) + (a.v + b.v) * T) / T**3
        return Sample(c0 + c1 * t + c2 * t**2 + c3 * t**3, c1 + 2 * c2 * t + 3 * c3 * t**2, 2 * c2 + 6 * c3 * t)
    # quintic: positions, velocities and accelerations
    c0, c1, c2 = a.p, a.v, a.a / 2
    d = b.p - a.p - a.v * T - a.a * T**2 / 2  # what the quadratic part leaves at T
    e = b.v - a.v - a.a * T
    f = b.a - a.a
    c3 = (20 * d - 8 * e * T + f * T**2) / (2 * T**3)
    c4 = (-30 * d + 14 * e * T - 2 * f * T**2) / (2 * T**4)
    c5 = (12 * d - 6 * e * T + f * T**2) / (2 * T**5)
    return Sample(c0 + c1 * t + c2 * t**2 + c3 * t**3 + c4 * t**4 + c5 * t**5,
                  c1 + 2 * c2 * t + 3 * c3 * t**2 + 4 * c4 * t**3 + 5 * c5 * t**4,
                  2 * c2 + 6 * c3 * t + 12 * c4 * t**2 + 20 * c5 * t**3)


@dataclass(frozen=True)
class Outcome:
    """How a goal ended: the error code, the reason, and the joint that violated a tolerance ('' if none)."""

    code: ErrorCode
    reason: str
    joint: str = ""


@dataclass
class GoalMonitor:
    """Samples the trajectory and checks the tolerances once per control cycle, as JTC's update() does.

    tolerances are per controller joint; `columns` pick the goal's joints from them.
    """

    goal: CheckedGoal
    trajectory: SplineTrajectory
    tolerances: Tolerances
    _first: bool = field(default=True, init=False)

    def step(self, t_s: float, actual_positions: np.ndarray,
             actual_velocities: np.ndarray | None) -> tuple[Sample, np.ndarray, Outcome | None]:
        """(desired, position error (G,) = desired - actual, outcome or None while the goal runs)."""
        desired = self.trajectory.sample(t_s)
        error = desired.positions - actual_positions
        velocity_error = (np.zeros_like(error) if actual_velocities is None
                          else desired.velocities - actual_velocities)
        cols = self.goal.columns
        tol = self.tolerances
        before_end = t_s < self.trajectory.duration_s
        first, self._first = self._first, False
        if before_end or first:  # JTC checks the path on the first sample too (it may be the last point)
            bad = _violations(error, tol.path_rad[cols]) or _violations(velocity_error, tol.path_velocity_rad_s[cols])
            if bad:
                j = bad[0]
                return desired, error, Outcome(
                    ErrorCode.PATH_TOLERANCE_VIOLATED,
                    f"joint {self.goal.joint_names[j]} left its path tolerance at t={t_s:.3f} s: position error "
                    f"{error[j]:+.4f} rad (tolerance {tol.path_rad[cols][j]:g}), velocity error "
                    f"{velocity_error[j]:+.4f} rad/s (tolerance {tol.path_velocity_rad_s[cols][j]:g})",
                    self.goal.joint_names[j])
        if before_end:
            return desired, error, None
        bad = _violations(error, tol.goal_rad[cols]) or _violations(velocity_error, tol.goal_velocity_rad_s[cols])
        if not bad:
            return desired, error, Outcome(ErrorCode.SUCCESSFUL, "goal reached")
        late_s = t_s - self.trajectory.duration_s
        if tol.goal_time_s > 0.0 and late_s > tol.goal_time_s:
            j = bad[0]
            return desired, error, Outcome(
                ErrorCode.GOAL_TOLERANCE_VIOLATED,
                f"joint {self.goal.joint_names[j]} outside its goal tolerance {late_s:.3f} s after the end "
                f"(goal_time {tol.goal_time_s:g} s): position error {error[j]:+.4f} rad (tolerance "
                f"{tol.goal_rad[cols][j]:g}), velocity error {velocity_error[j]:+.4f} rad/s (stopped velocity "
                f"tolerance {tol.goal_velocity_rad_s[cols][j]:g})",
                self.goal.joint_names[j])
        return desired, error, None  # not there yet; with goal_time 0 JTC waits as long as it takes


def _violations(error: np.ndarray, tolerance: np.ndarray) -> list[int]:
    """Goal joints whose |error| exceeds a checked (> 0) tolerance."""
    return np.flatnonzero((tolerance > 0.0) & (np.abs(error) > tolerance)).tolist()
