"""Independent check of a timed trajectory: dense collision checks along it and limits from finite differences.

Written apart from the planner's checks on purpose: the planner tests discrete states with margins; this
re-samples the TIMED trajectory (what the controller will interpolate) so that NO POINT OF THE ROBOT moves more
than `max_point_step_m` between checked states, tests the same allowed-collision pairs for true contact (no
margin), and differentiates the sampled positions itself instead of trusting the velocities/accelerations the
parameteriser reports.

Point motion is bounded in joint space: a point moves at most sum_i |dq_i| * reach_i, where reach_i bounds the
distance of any collision geometry moved by joint i from that joint's origin (`joint_reach_m`). Two pre-tests
skip work without weakening the check:
- pairs whose two bodies no joint of the trajectory moves (arm-arm pairs while only the hand closes) are
  checked once, at the first state;
- the states are grouped in windows of `prefilter_window_m` of point motion; a pair is checked in a window only
  when its bounding spheres (robot bodies, grown by the window's motion) or sphere and box (environment) come
  within the pair's margin there.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from flash_core.planning.collision import CollisionChecker
from flash_core.planning.robot_model import RobotModel
from flash_core.planning.trajectory import JointTrajectory


@dataclass(frozen=True)
class ValidationConfig:
    max_point_step_m: float = 0.002  # no robot point moves more than this between checked states
    prefilter_window_m: float = 0.04  # point motion per bounding-volume pre-test window
    environment_margin_m: float = 0.0  # robot-environment pairs must stay this far apart
    limit_tolerance: float = 0.02  # relative: finite differences of sampled splines carry small errors

    def __post_init__(self) -> None:
        if not (self.max_point_step_m > 0.0 and self.prefilter_window_m >= self.max_point_step_m):
            raise ValueError("need 0 < max_point_step_m <= prefilter_window_m, got "
                             f"{self.max_point_step_m} and {self.prefilter_window_m}")


@dataclass
class ValidationReport:
    ok: bool = True
    n_checked: int = 0  # states sampled for the collision check (each within max_point_step_m of the next)
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.ok = False
        if len(self.problems) < 20:
            self.problems.append(message)


@functools.lru_cache(maxsize=4)
def robot_geometry_spheres(robot: RobotModel) -> tuple[np.ndarray, np.ndarray]:
    """Bounding spheres of the robot's collision bodies: centres (G, 3) in their parent joint's frame, radii (G,)."""
    centres, radii = [], []
    for obj in robot.collision_model.geometryObjects:
        obj.geometry.computeLocalAABB()
        centres.append(obj.placement.act(np.asarray(obj.geometry.aabb_center, dtype=float)))
        radii.append(float(obj.geometry.aabb_radius))
    centres, radii = np.array(centres), np.array(radii)
    centres.flags.writeable = radii.flags.writeable = False  # cached: shared by every caller
    return centres, radii


@functools.lru_cache(maxsize=4)
def joint_reach_m(robot: RobotModel) -> np.ndarray:
    """(nq,) for each joint, a bound on the distance from its origin of any collision point it moves."""
    model = robot.model
    centres, radii = robot_geometry_spheres(robot)
    reach = np.zeros(model.nq)
    for obj, centre, radius in zip(robot.collision_model.geometryObjects, centres, radii):
        distance, joint = float(np.linalg.norm(centre)) + radius, obj.parentJoint
        while joint > 0:  # up the chain: the origins of successive joints sit a fixed distance apart
            index = model.idx_qs[joint]
            reach[index] = max(reach[index], distance)
            distance += float(np.linalg.norm(model.jointPlacements[joint].translation))
            joint = model.parents[joint]
    reach.flags.writeable = False  # cached: shared by every caller
    return reach


def _resample(trajectory: JointTrajectory, reach_m: np.ndarray, step_m: float):
    """States along the piecewise-linear trajectory, consecutive ones at most step_m of point motion apart:
    positions (K, D), times (K,), and the cumulative point-motion bound (K,) in metres."""
    pos, times = trajectory.positions, trajectory.times_s
    if len(pos) == 1:
        return pos, times, np.zeros(1)
    arc = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(pos, axis=0)) @ reach_m)])
    n = max(1, int(np.ceil(arc[-1] / step_m)))
    s = np.linspace(0.0, arc[-1], n + 1)
    segment = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(pos) - 2)
    span = arc[segment + 1] - arc[segment]
    alpha = np.divide(s - arc[segment], span, out=np.zeros_like(s), where=span > 0)[:, None]
    states = pos[segment] + alpha * (pos[segment + 1] - pos[segment])
    return states, times[segment] + alpha[:, 0] * (times[segment + 1] - times[segment]), s


def _environment_boxes(checker: CollisionChecker) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """World AABBs (low (3,), high (3,)) of the environment bodies, by geometry index."""
    import coal

    boxes = {}
    for g in range(checker.robot.collision_model.ngeoms, checker.geometry.ngeoms):
        obj = checker.geometry.geometryObjects[g]
        if obj.parentJoint != 0:
            continue  # an attached object moves with the robot: no fixed box
        shape = obj.geometry
        if isinstance(shape, coal.OcTree):
            cells = np.array(shape.toBoxes()).reshape(-1, 6)  # (x, y, z, size, occupancy, threshold)
            if len(cells) == 0:
                continue
            local = np.stack([(cells[:, :3] - cells[:, 3:4] / 2).min(0), (cells[:, :3] + cells[:, 3:4] / 2).max(0)])
        elif isinstance(shape, coal.Box):
            local = np.stack([-shape.halfSide, shape.halfSide])
        else:
            continue  # unknown shape: never pre-filtered
        corners = np.array([[local[i, 0], local[j, 1], local[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
        world = corners @ obj.placement.rotation.T + obj.placement.translation
        boxes[g] = (world.min(0), world.max(0))
    return boxes


class _PairFilter:
    """Which collision pairs can be in contact over a window of states (bounding spheres and boxes)."""

    def __init__(self, checker: CollisionChecker, margins: np.ndarray):
        robot = checker.robot
        self.model, self.data = robot.model, robot.model.createData()
        self.centres, self.radii = robot_geometry_spheres(robot)
        self.parents = [obj.parentJoint for obj in robot.collision_model.geometryObjects]
        pairs = checker.geometry.collisionPairs
        self.first = np.array([p.first for p in pairs])
        self.second = np.array([p.second for p in pairs])
        n_robot = robot.collision_model.ngeoms
        boxes = _environment_boxes(checker)
        self.self_pairs = np.flatnonzero(self.second < n_robot)
        # Pairs of a non-robot body (the attached object) with the environment: never pre-filtered.
        self.box_pairs = np.array([k for k in range(len(pairs)) if self.second[k] in boxes and self.first[k] < n_robot],
                                  dtype=int)
        self.low = np.array([boxes[self.second[k]][0] for k in self.box_pairs]).reshape(-1, 3)
        self.high = np.array([boxes[self.second[k]][1] for k in self.box_pairs]).reshape(-1, 3)
        self.margins = margins

    def possible(self, q: np.ndarray, moving_geometry: np.ndarray, grow_m: float) -> np.ndarray:
        """(P,) bool: pairs that may touch within grow_m of point motion of the moving bodies from state q."""
        import pinocchio as pin

        pin.forwardKinematics(self.model, self.data, q)
        world = np.array([self.data.oMi[j].act(c) for j, c in zip(self.parents, self.centres)])  # (G, 3)
        radius = self.radii + np.where(moving_geometry[: len(self.radii)], grow_m, 0.0)
        possible = np.ones(len(self.first), dtype=bool)
        a, b = self.first[self.self_pairs], self.second[self.self_pairs]
        gap = np.linalg.norm(world[a] - world[b], axis=1) - radius[a] - radius[b]
        possible[self.self_pairs] = gap <= self.margins[self.self_pairs]
        if len(self.box_pairs):
            a = self.first[self.box_pairs]
            outside = np.maximum(np.maximum(self.low - world[a], world[a] - self.high), 0.0)
            gap = np.linalg.norm(outside, axis=1) - radius[a]
            possible[self.box_pairs] = gap <= self.margins[self.box_pairs]
        return possible


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
    model, geometry = robot.model, checker.geometry
    margins = np.array([config.environment_margin_m if checker.is_environment_pair(k) else 0.0
                        for k in range(checker.n_pairs)])
    gdata = geometry.createData()
    for k, margin in enumerate(margins):
        gdata.collisionRequests[k].security_margin = float(margin)
    allowed = np.zeros(checker.n_pairs, dtype=bool)
    if allow_hand_object:
        allowed[list(checker.hand_object_pair_indices)] = True
    moving_joints = {j + 1 for j in index}  # Pinocchio joint ids: all joints here are 1-dof, after the universe
    moving_geometry = np.array([bool(moving_joints & set(model.supports[obj.parentJoint]))
                                for obj in geometry.geometryObjects])
    fixed = ~(moving_geometry[[p.first for p in geometry.collisionPairs]]
              | moving_geometry[[p.second for p in geometry.collisionPairs]])

    reach = joint_reach_m(robot)[index]
    states, times, motion = _resample(trajectory, reach, config.max_point_step_m)
    report.n_checked = len(states)
    q = np.asarray(held_q, dtype=float).copy()
    data = model.createData()
    pair_filter = _PairFilter(checker, margins)
    active = np.ones(checker.n_pairs, dtype=bool)

    def check(first: int, end: int, pairs: np.ndarray) -> bool:
        """Check states first..end-1 on the given pairs; False once five contacts are recorded."""
        for p in np.flatnonzero(pairs != active):
            (gdata.activateCollisionPair if pairs[p] else gdata.deactivateCollisionPair)(int(p))
        active[:] = pairs
        for k in range(first, end):
            q[index] = states[k]
            if not pin.computeCollisions(model, data, geometry, gdata, q, True):
                continue
            pin.computeCollisions(model, data, geometry, gdata, q, False)
            hits = [checker.pair_names[p] for p, result in enumerate(gdata.collisionResults)
                    if active[p] and result.isCollision()]
            report.fail(f"t={times[k]:.3f} s: contact between {hits}")
            if len(report.problems) >= 5:
                return False
        return True

    if not check(0, 1, fixed & ~allowed):  # pairs no joint of the trajectory moves: once
        return report
    start = 0
    while start < len(states):
        end = int(np.searchsorted(motion, motion[start] + config.prefilter_window_m, side="right"))
        q[index] = states[start]
        possible = pair_filter.possible(q, moving_geometry, motion[end - 1] - motion[start])
        pairs = possible & ~fixed & ~allowed
        if pairs.any() and not check(start, end, pairs):
            return report
        start = end
    return report
