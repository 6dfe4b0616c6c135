"""Collision checking of Gen3 + LEAP configurations against themselves, the table and the object cloud.

Pairs checked (the allowed-collision matrix, as a MoveIt SRDF would hold it):
- arm self: every pair of Gen3 links that are not parent and child (21 pairs);
- hand vs arm: every LEAP body hull against every Gen3 link except the bracelet it is mounted on;
  self pairs the SRDF marks "Never" (never within 2 cm in the generator's random states, the pairs MoveIt
  skips) are left out when `skip_never_colliding` is set (default), so planner, validator and MoveIt agree;
- robot vs table: every body except the Gen3 base, which stands on the table;
- robot vs object: every body. `allow_hand_object=True` switches off the hand-object pairs only: used for the
  approach, closing and lift, where the fingers are meant to reach and touch the object;
- robot vs obstacles (the other objects' clouds): every body, always;
- attached object (the target's cloud fixed in the hand-root frame once grasped) vs obstacles, and vs the table
  unless `attached_touches_table` (the lift, which takes it off the table). Its contact with the robot is not
  checked: the hand holds it.
The hand's own finger-finger pairs are not checked: the grasp's joint positions come from the grasp model.

Robot-environment pairs carry a security margin (default 1 cm): discrete checks between waypoints otherwise
graze obstacles. Self pairs carry none (neighbouring links sit within millimetres of each other).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flash_core.planning.robot_model import RobotModel
from flash_core.planning.scene import Scene

TABLE = "table"
OBJECT = "object"
OBSTACLES = "obstacles"
ATTACHED = "attached_object"


@dataclass(frozen=True)
class CollisionConfig:
    environment_margin_m: float = 0.01
    self_margin_m: float = 0.0
    skip_never_colliding: bool = True


class CollisionChecker:
    """`is_valid(q)` for full configurations q (23,) = [arm 7, hand 16] in a fixed scene."""

    def __init__(self, robot: RobotModel, scene: Scene, config: CollisionConfig | None = None, *,
                 attached_points_in_hand_m: np.ndarray | None = None, attached_touches_table: bool = False):
        """attached_points_in_hand_m (K, 3): the grasped object's cloud in the hand-root frame, or None."""
        import pinocchio as pin

        self.robot, self.scene = robot, scene
        self.config = config or CollisionConfig()
        self.geometry = robot.collision_model.copy()
        robot_ids = list(range(self.geometry.ngeoms))
        env_ids = {}
        table = scene.table_geometry()
        if table is not None:
            shape, pose = table
            env_ids[TABLE] = self.geometry.addGeometryObject(pin.GeometryObject(TABLE, 0, 0, pin.SE3(pose), shape))
        cloud = scene.object_geometry()
        if cloud is not None:
            env_ids[OBJECT] = self.geometry.addGeometryObject(
                pin.GeometryObject(OBJECT, 0, 0, pin.SE3.Identity(), cloud)
            )
        obstacles = scene.obstacle_geometry()
        if obstacles is not None:
            env_ids[OBSTACLES] = self.geometry.addGeometryObject(
                pin.GeometryObject(OBSTACLES, 0, 0, pin.SE3.Identity(), obstacles)
            )

        names = [self.geometry.geometryObjects[i].name for i in robot_ids]
        arm = [i for i in robot_ids if not robot.is_hand_link(names[i])]
        hand = [i for i in robot_ids if robot.is_hand_link(names[i])]
        chain = {name: k for k, name in enumerate(robot.arm_link_names)}  # links in kinematic order
        never = robot.never_colliding_link_pairs if self.config.skip_never_colliding else frozenset()
        pairs: list[tuple[int, int, float]] = []
        for a_pos, a in enumerate(arm):
            for b in arm[a_pos + 1:]:
                if abs(chain[names[a]] - chain[names[b]]) > 1 and frozenset((names[a], names[b])) not in never:
                    pairs.append((a, b, self.config.self_margin_m))
        mount_link = robot.arm_link_names[-1]
        for h in hand:
            for a in arm:
                if names[a] != mount_link and frozenset((names[a], names[h])) not in never:
                    pairs.append((a, h, self.config.self_margin_m))
        base_link = robot.arm_link_names[0]
        self._hand_object_pairs: list[int] = []
        for env_name, e in env_ids.items():
            for r in robot_ids:
                if env_name == TABLE and names[r] == base_link:
                    continue
                if env_name == OBJECT and r in hand:
                    self._hand_object_pairs.append(len(pairs))
                pairs.append((r, e, self.config.environment_margin_m))
        if attached_points_in_hand_m is not None and len(attached_points_in_hand_m):
            hand_root = robot.frame_id(robot.hand_root_frame)
            frame = robot.model.frames[hand_root]
            attached = self.geometry.addGeometryObject(pin.GeometryObject(
                ATTACHED, frame.parentJoint, hand_root, frame.placement,
                Scene(scene.config, np.asarray(attached_points_in_hand_m)).object_geometry()))
            for env_name, e in env_ids.items():
                if env_name == OBSTACLES or (env_name == TABLE and not attached_touches_table):
                    pairs.append((attached, e, self.config.environment_margin_m))
        for a, b, _ in pairs:
            self.geometry.addCollisionPair(pin.CollisionPair(int(a), int(b)))
        self.pair_names = [(self.geometry.geometryObjects[a].name, self.geometry.geometryObjects[b].name)
                           for a, b, _ in pairs]
        self._data = robot.model.createData()
        # Continuous arm joints have no limit here: planners keep them in their own window.
        limited = np.concatenate([~robot.continuous, np.ones(robot.n_hand, dtype=bool)])
        self._lower = np.where(limited, robot.lower_rad - 1e-9, -np.inf)
        self._upper = np.where(limited, robot.upper_rad + 1e-9, np.inf)
        self._strict = self._make_data([m for _, _, m in pairs], allowed=())
        self._contact_allowed = self._make_data([m for _, _, m in pairs], allowed=self._hand_object_pairs)

    def _make_data(self, margins: list[float], allowed):
        gdata = self.geometry.createData()
        for k, margin in enumerate(margins):
            gdata.collisionRequests[k].security_margin = margin
        for k in allowed:
            gdata.deactivateCollisionPair(int(k))
        return gdata

    @property
    def hand_object_pair_indices(self) -> tuple[int, ...]:
        return tuple(self._hand_object_pairs)

    def is_environment_pair(self, pair_index: int) -> bool:
        return self.pair_names[pair_index][1] in (TABLE, OBJECT, OBSTACLES)

    @property
    def n_pairs(self) -> int:
        return len(self.pair_names)

    def is_valid(self, q: np.ndarray, *, allow_hand_object: bool = False) -> bool:
        """True when q (23,) is inside the joint limits and collision-free (with margins)."""
        import pinocchio as pin

        q = np.asarray(q, dtype=float)
        if np.any((q < self._lower) | (q > self._upper)):
            return False
        gdata = self._contact_allowed if allow_hand_object else self._strict
        return not pin.computeCollisions(self.robot.model, self._data, self.geometry, gdata, q, True)

    def colliding_pairs(self, q: np.ndarray, *, allow_hand_object: bool = False) -> list[tuple[str, str]]:
        """Names of every pair in collision (with margins) at q: for error messages and reports."""
        import pinocchio as pin

        gdata = self._contact_allowed if allow_hand_object else self._strict
        pin.computeCollisions(self.robot.model, self._data, self.geometry, gdata, np.asarray(q, float), False)
        return [self.pair_names[k] for k, result in enumerate(gdata.collisionResults)
                if gdata.activeCollisionPairs[k] and result.isCollision()]
