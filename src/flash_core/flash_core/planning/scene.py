"""The robot's surroundings for planning, in the robot base frame: a table top, the target object's point cloud
(the hand may touch it while grasping) and the other objects' clouds (obstacles throughout, never touched)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from flash_core.geometry.plane import Plane


@dataclass(frozen=True)
class TableConfig:
    """A box whose top face centre is at (center_xy_m, top_z_m) (robot base frame), the face tilted to the unit
    normal `normal_in_base` (default: level). The Gen3 base stands on it."""

    top_z_m: float = 0.0
    center_xy_m: tuple[float, float] = (0.5, 0.0)
    size_xy_m: tuple[float, float] = (1.6, 1.6)
    thickness_m: float = 0.05
    normal_in_base: tuple[float, float, float] = (0.0, 0.0, 1.0)


def table_from_plane(plane_pose: np.ndarray, table: TableConfig | None = None) -> TableConfig:
    """The table whose top face lies in a measured plane: plane_pose (4, 4) in the base frame has a point of the
    plane as origin and the plane normal as z axis (flash_perception's `table_plane` pose; `Plane.from_pose`, which
    flips a normal pointing down). Size, thickness and centre xy come from `table` (default TableConfig)."""
    plane = Plane.from_pose(plane_pose)
    if plane.tilt_deg() > 60.0:  # not a table the arm stands on
        raise ValueError(f"table plane normal {plane.normal.round(3).tolist()} is more than 60 degrees from vertical")
    table = table or TableConfig()
    normal = plane.normal
    top_z_m = -(normal[:2] @ np.asarray(table.center_xy_m) + plane.offset_m) / normal[2]  # height at the centre
    return replace(table, top_z_m=float(top_z_m), normal_in_base=tuple(float(v) for v in normal))


@dataclass(frozen=True)
class SceneConfig:
    table: TableConfig | None = field(default_factory=TableConfig)
    # Object clouds become an occupancy octree with this leaf size; leaves are cubes, so the obstacle covers
    # every point (conservative by up to one leaf).
    object_voxel_m: float = 0.01


@dataclass(frozen=True)
class Scene:
    """An optional table, the target object's cloud (N, 3) and the other objects' cloud (M, 3), metres, base frame.

    An empty target cloud (0, 3) means "no object" (e.g. planning a retreat after the object is attached);
    obstacles stay in every stage.
    """

    config: SceneConfig = field(default_factory=SceneConfig)
    object_points_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    obstacle_points_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def __post_init__(self) -> None:
        for name, what in (("object_points_m", "object cloud"), ("obstacle_points_m", "obstacle cloud")):
            points = np.asarray(getattr(self, name), dtype=float)
            if points.ndim != 2 or points.shape[1] != 3:
                raise ValueError(f"{what} must have shape (N, 3), got {points.shape}")
            if not np.isfinite(points).all():
                raise ValueError(f"{what} contains NaN or inf values")
            object.__setattr__(self, name, points)
        if self.config.object_voxel_m <= 0:
            raise ValueError(f"object_voxel_m must be positive, got {self.config.object_voxel_m}")

    @property
    def has_object(self) -> bool:
        return len(self.object_points_m) > 0

    def table_geometry(self):
        """(coal.Box, (4, 4) pose) of the table, or None."""
        import coal

        table = self.config.table
        if table is None:
            return None
        normal = np.asarray(table.normal_in_base, dtype=float)
        normal = normal / np.linalg.norm(normal)
        pose = np.eye(4)
        # Rotation taking z to the normal (Rodrigues about z x normal); the normal is never opposite to z here.
        axis, cos = np.cross((0.0, 0.0, 1.0), normal), normal[2]
        skew = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
        pose[:3, :3] = np.eye(3) + skew + skew @ skew / (1.0 + cos)
        pose[:3, 3] = (*table.center_xy_m, table.top_z_m)
        pose[:3, 3] -= normal * table.thickness_m / 2
        return coal.Box(table.size_xy_m[0], table.size_xy_m[1], table.thickness_m), pose

    def object_geometry(self):
        """coal.OcTree of the target object cloud (pose identity), or None when the cloud is empty."""
        return self._octree(self.object_points_m)

    def obstacle_geometry(self):
        """coal.OcTree of the other objects' cloud (pose identity), or None when there are none."""
        return self._octree(self.obstacle_points_m)

    def _octree(self, points_m: np.ndarray):
        import coal

        if len(points_m) == 0:
            return None
        return coal.makeOctree(np.ascontiguousarray(points_m), float(self.config.object_voxel_m))

    @classmethod
    def for_pick(cls, config: SceneConfig, object_points_m: np.ndarray, obstacle_points_m: np.ndarray | None = None,
                 table_plane_pose: np.ndarray | None = None) -> "Scene":
        """A planner's scene for one pick: table_plane_pose (4, 4), a measured table plane in the base frame
        (`table_from_plane`), replaces the config's table; no obstacles when obstacle_points_m is None."""
        if table_plane_pose is not None:
            config = replace(config, table=table_from_plane(table_plane_pose, config.table))
        return cls(config, object_points_m, np.zeros((0, 3)) if obstacle_points_m is None else obstacle_points_m)

    def without_object(self) -> "Scene":
        """The scene once the target is in the hand: table and obstacles only."""
        return Scene(self.config, np.zeros((0, 3)), self.obstacle_points_m)
