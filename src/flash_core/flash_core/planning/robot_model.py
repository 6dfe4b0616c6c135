"""Pinocchio kinematics + coal collision geometry of the Gen3 with the LEAP hand (arm 7 + hand 16 joints).

Built independently of the MuJoCo assembly (tests compare the two): the Gen3 and LEAP MJCFs are loaded by
Pinocchio separately and joined with `pin.appendModel` at the documented `HandMount`.

Collision geometry is convex: each Gen3 link mesh becomes its convex hull, and each LEAP body's boxes and
fingertip meshes become ONE convex hull per body (17 bodies). Hulls contain the geometry they wrap, so the
checks are conservative, and they match what MuJoCo collides (MuJoCo also uses mesh hulls).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from flash_core.planning.description import (
    ARM_JOINT_NAMES,
    ARM_POSITION_LIMITS_RAD,
    HAND_JOINT_NAMES,
    HAND_ROOT_BODY,
    MOUNT_PARENT_LINK,
    AssemblyConfig,
    hand_joint_limits_rad,
    leap_hand_spec,
)
from flash_core.utils.cache import cache_dir

# Joints 1, 3, 5, 7 are continuous; samplers and IK need a finite window (planners re-centre it on the start).
CONTINUOUS_WINDOW_RAD = math.pi
HOME_ARM_Q_RAD = np.array([0.0, 0.26179939, 3.14159265, -2.26892803, 0.0, 0.95993109, 1.57079633])


@dataclass(frozen=True)
class RobotModelConfig:
    assembly: AssemblyConfig = field(default_factory=AssemblyConfig)


def _hand_mjcf_path(config: AssemblyConfig) -> str:
    """Write the prefixed, free-joint-less LEAP MJCF that Pinocchio reads (cached by content)."""
    spec = leap_hand_spec()
    # Pinocchio ignores MuJoCo-only sections; drop them so renaming cannot leave dangling references.
    for element in [*spec.actuators, *spec.sensors, *spec.excludes]:
        spec.delete(element)
    for element in [*spec.bodies, *spec.joints, *spec.geoms, *spec.sites]:
        if element.name:
            element.name = config.hand_prefix + element.name
    xml = spec.to_xml()
    path = cache_dir("planning") / f"leap_for_pinocchio_{hashlib.sha256(xml.encode()).hexdigest()[:16]}.xml"
    if not path.is_file():
        path.write_text(xml)
    return str(path)


def _local_vertices(geometry) -> np.ndarray:
    """(V, 3) vertices of a coal Box or mesh in its own frame."""
    import coal

    if isinstance(geometry, coal.Box):
        corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
        return corners * geometry.halfSide
    return np.asarray(geometry.vertices(), dtype=float)


def _convex_hull(points: np.ndarray):
    import coal

    vertices = coal.StdVec_Vec3s()
    vertices.extend(list(np.asarray(points, dtype=float)))
    return coal.Convex.convexHull(vertices, True, "Qt")


class RobotModel:
    """Kinematics and convex collision geometry of Gen3 + LEAP. Stateless: every query takes q.

    q is the full configuration (23,) = [arm (7), hand (16)], in `joint_names` order.
    """

    def __init__(self, config: RobotModelConfig | None = None):
        import pinocchio as pin

        from flash_core.assets import asset_dir

        self.config = config or RobotModelConfig()
        prefix = self.config.assembly.hand_prefix
        arm_path = str(asset_dir("gen3"))
        arm_model = pin.buildModelFromMJCF(arm_path)
        arm_geom = pin.buildGeomFromMJCF(arm_model, arm_path, pin.COLLISION)
        hand_path = _hand_mjcf_path(self.config.assembly)
        hand_model = pin.buildModelFromMJCF(hand_path)
        hand_geom = pin.buildGeomFromMJCF(hand_model, hand_path, pin.COLLISION)
        mount = pin.SE3(self.config.assembly.mount.matrix())
        self.model, full_geom = pin.appendModel(
            arm_model, hand_model, arm_geom, hand_geom, arm_model.getFrameId(MOUNT_PARENT_LINK), mount
        )
        self.arm_joint_names = ARM_JOINT_NAMES
        self.hand_joint_names = tuple(prefix + n for n in HAND_JOINT_NAMES)
        self.joint_names = self.arm_joint_names + self.hand_joint_names
        if tuple(self.model.names[1:]) != self.joint_names or self.model.nq != len(self.joint_names):
            raise RuntimeError(f"unexpected joint layout in the assembled model: {list(self.model.names[1:])}")
        self.hand_root_frame = prefix + HAND_ROOT_BODY
        self.collision_model = self._convex_geometry(full_geom)

        lower = np.array(self.model.lowerPositionLimit, dtype=float)
        upper = np.array(self.model.upperPositionLimit, dtype=float)
        for i, name in enumerate(ARM_JOINT_NAMES):
            if name in ARM_POSITION_LIMITS_RAD:
                lower[i], upper[i] = -ARM_POSITION_LIMITS_RAD[name], ARM_POSITION_LIMITS_RAD[name]
            else:
                lower[i], upper[i] = -CONTINUOUS_WINDOW_RAD, CONTINUOUS_WINDOW_RAD
        hand_limits = hand_joint_limits_rad()
        lower[self.n_arm:], upper[self.n_arm:] = hand_limits[:, 0], hand_limits[:, 1]
        self.lower_rad, self.upper_rad = lower, upper  # (23,), finite
        self.continuous = np.array([not math.isfinite(self.model.upperPositionLimit[i]) for i in range(7)])

    def _convex_geometry(self, geom):
        """One convex hull per arm link mesh and per hand body, attached to the same joints/frames."""
        import pinocchio as pin

        groups: dict[int, list] = {}
        for obj in geom.geometryObjects:
            groups.setdefault(obj.parentFrame, []).append(obj)
        convex = pin.GeometryModel()
        for frame_id, objects in groups.items():
            frame = self.model.frames[frame_id]
            # Vertices expressed in the frame's placement relative to its joint (all objects share it).
            frame_inv = frame.placement.inverse()
            points = []
            for obj in objects:
                local = _local_vertices(obj.geometry)
                in_frame = frame_inv * obj.placement
                points.append(local @ in_frame.rotation.T + in_frame.translation)
            hull = _convex_hull(np.concatenate(points))
            convex.addGeometryObject(
                pin.GeometryObject(frame.name, frame.parentJoint, frame_id, frame.placement, hull)
            )
        return convex

    # --- indices -----------------------------------------------------------------------------------------
    @property
    def n_arm(self) -> int:
        return len(self.arm_joint_names)

    @property
    def n_hand(self) -> int:
        return len(self.hand_joint_names)

    @cached_property
    def arm_link_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.collision_model.geometryObjects if not self.is_hand_link(o.name))

    @cached_property
    def hand_link_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.collision_model.geometryObjects if self.is_hand_link(o.name))

    def is_hand_link(self, name: str) -> bool:
        return name.startswith(self.config.assembly.hand_prefix)

    def frame_id(self, name: str) -> int:
        if not self.model.existFrame(name):
            known = sorted({f.name for f in self.model.frames})
            raise KeyError(f"unknown frame '{name}'; known frames: {known}")
        return int(self.model.getFrameId(name))

    @cached_property
    def hand_reach_ball_m(self) -> tuple[np.ndarray, float]:
        """(centre (3,), radius) of a ball holding every hand-root position the arm can reach.

        The centre lies on joint 1's axis level with joint 2; the radius adds joint 2's offset from that axis
        and the fixed distances between successive joint origins up to the hand root (triangle inequality).
        A pose outside the ball has no IK solution, so it is rejected without trying (microseconds).
        """
        import pinocchio as pin

        model, data = self.model, self.model.createData()
        q = pin.neutral(model)
        pin.framesForwardKinematics(model, data, q)
        pin.computeJointJacobians(model, data, q)
        first = self.model.getJointId(self.arm_joint_names[0])
        second = self.model.getJointId(self.arm_joint_names[1])
        axis = pin.getJointJacobian(model, data, first, pin.WORLD)[3:, first - 1]  # joint 1's world axis
        origin, second_origin = data.oMi[first].translation, data.oMi[second].translation
        centre = origin + np.dot(second_origin - origin, axis) * axis
        frame = model.frames[self.frame_id(self.hand_root_frame)]
        radius = np.linalg.norm(second_origin - centre) + np.linalg.norm(frame.placement.translation)
        joint = frame.parentJoint
        while joint != second:
            radius += np.linalg.norm(model.jointPlacements[joint].translation)
            joint = model.parents[joint]
        return np.array(centre), float(radius)

    @cached_property
    def never_colliding_link_pairs(self) -> frozenset[frozenset[str]]:
        """Link pairs the SRDF generator found never within 2 cm over its random states (reason "Never")."""
        from flash_core.planning.srdf import never_colliding_link_pairs

        return never_colliding_link_pairs(self.config.assembly)

    def hand_root_out_of_reach(self, pose: np.ndarray) -> bool:
        """True when the hand-root pose (4, 4) lies outside `hand_reach_ball_m` (no arm configuration reaches it)."""
        centre, radius = self.hand_reach_ball_m
        return bool(np.linalg.norm(np.asarray(pose)[:3, 3] - centre) > radius)

    # --- configurations ----------------------------------------------------------------------------------
    def full_q(self, arm_q: np.ndarray, hand_q: np.ndarray | None = None) -> np.ndarray:
        """(23,) from arm (7,) and hand (16,) positions (hand defaults to open, all zero)."""
        arm_q = np.asarray(arm_q, dtype=float)
        hand_q = np.zeros(self.n_hand) if hand_q is None else np.asarray(hand_q, dtype=float)
        if arm_q.shape != (self.n_arm,) or hand_q.shape != (self.n_hand,):
            raise ValueError(f"expected arm q ({self.n_arm},) and hand q ({self.n_hand},), got "
                             f"{arm_q.shape} and {hand_q.shape}")
        if not (np.isfinite(arm_q).all() and np.isfinite(hand_q).all()):
            raise ValueError("joint positions contain NaN or inf")
        return np.concatenate([arm_q, hand_q])

    def check_hand_q(self, hand_q: np.ndarray, tolerance_rad: float = 1e-6) -> np.ndarray:
        """Validate (16,) hand joint positions against the LEAP limits; positions outside by at most
        `tolerance_rad` come back clamped onto them (a measured state: fingers pressed on an object or the table
        read a little past their limits, which MoveIt's start-state bounds fix also tolerates)."""
        hand_q = np.asarray(hand_q, dtype=float)
        if hand_q.shape != (self.n_hand,) or not np.isfinite(hand_q).all():
            raise ValueError(f"hand joint positions must be {self.n_hand} finite values, got shape {hand_q.shape}")
        lo, hi = self.lower_rad[self.n_arm:], self.upper_rad[self.n_arm:]
        excess = np.maximum(lo - hand_q, hand_q - hi)  # (16,) rad beyond the nearer limit
        bad = np.flatnonzero(excess > tolerance_rad)
        if bad.size:
            names = ", ".join(f"{self.hand_joint_names[i]} by {excess[i]:.3f} rad" for i in bad)
            raise ValueError(f"hand joint positions outside the LEAP limits: {names}")
        return np.clip(hand_q, lo, hi)

    def frame_pose(self, q: np.ndarray, frame: str) -> np.ndarray:
        """(4, 4) pose of `frame` in the robot base frame at full configuration q (23,)."""
        import pinocchio as pin

        frame_id = self.frame_id(frame)
        data = self.model.createData()
        pin.framesForwardKinematics(self.model, data, np.asarray(q, dtype=float))
        return np.array(data.oMf[frame_id].homogeneous)
