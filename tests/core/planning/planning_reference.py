"""Independent references for the planning tests: test objects and MuJoCo's view of collisions.

The MuJoCo reference never touches Pinocchio or coal: it compiles the MjSpec assembly plus a table box and one
small sphere per object point, and asks MuJoCo's own collision pipeline for penetrating contacts.
"""

from __future__ import annotations

import mujoco
import numpy as np

from flash_core.planning import TableConfig
from flash_core.planning.description import assembly_spec


def box_cloud(center_m, half_extent_m, n: int = 1500, seed: int = 0) -> np.ndarray:
    """(n, 3) points on the surface of an axis-aligned box: what a depth camera sees of a box."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1.0, 1.0, (n, 3))
    axis = rng.integers(0, 3, n)
    points[np.arange(n), axis] = np.sign(points[np.arange(n), axis] + 1e-12)
    return np.asarray(center_m) + points * np.asarray(half_extent_m)


class MujocoContacts:
    """Penetrating contacts of the robot with the table, the object points and itself, from MuJoCo alone."""

    POINT_RADIUS_M = 0.001

    def __init__(self, table: TableConfig | None, object_points_m: np.ndarray):
        spec = assembly_spec()
        world = spec.worldbody
        if table is not None:
            world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX,
                           size=[table.size_xy_m[0] / 2, table.size_xy_m[1] / 2, table.thickness_m / 2],
                           pos=[table.center_xy_m[0], table.center_xy_m[1], table.top_z_m - table.thickness_m / 2])
        for k, point in enumerate(np.asarray(object_points_m)):
            world.add_geom(name=f"object_{k}", type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[self.POINT_RADIUS_M, 0, 0],
                           pos=list(point))
        for geom in spec.geoms:
            geom.margin = 0.0
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.qpos_index = {m.joint(j).name: int(m.jnt_qposadr[j]) for j in range(m.njnt)}
        self.body_of_geom = [m.body(int(m.geom_bodyid[g])).name for g in range(m.ngeom)]
        self.geom_names = [m.geom(g).name for g in range(m.ngeom)]

    def contacts(self, q_by_name: dict[str, float], *, allow_hand_object: bool = False) -> list[tuple[str, str]]:
        """(body, body or geom) pairs in penetration at the configuration given by joint name."""
        for name, value in q_by_name.items():
            self.data.qpos[self.qpos_index[name]] = value
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_collision(self.model, self.data)
        found = []
        for contact in self.data.contact[: self.data.ncon]:
            if contact.dist >= 0.0:
                continue
            names = []
            for g in (contact.geom1, contact.geom2):
                body = self.body_of_geom[g]
                names.append(self.geom_names[g] if body == "world" else body)
            a, b = names
            hand_a, hand_b = a.startswith("leap_"), b.startswith("leap_")
            world_a, world_b = a == "table" or a.startswith("object_"), b == "table" or b.startswith("object_")
            if hand_a and hand_b:
                continue  # finger-finger contacts are the grasp's business, not the planner's
            if {a, b} == {"base_link", "table"}:
                continue  # the base stands on the table
            if (hand_a and b == "bracelet_link") or (hand_b and a == "bracelet_link"):
                continue  # the hand is mounted on the bracelet
            if (hand_a and b.startswith("object_") or hand_b and a.startswith("object_")) and allow_hand_object:
                continue
            if world_a and world_b:
                continue
            found.append((a, b))
        return found
