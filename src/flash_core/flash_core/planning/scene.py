"""The robot's surroundings for planning: a table top and the object's point cloud, in the robot base frame."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TableConfig:
    """A box whose top face is at `top_z_m` (robot base frame). The Gen3 base stands on it."""

    top_z_m: float = 0.0
    center_xy_m: tuple[float, float] = (0.5, 0.0)
    size_xy_m: tuple[float, float] = (1.6, 1.6)
    thickness_m: float = 0.05


@dataclass(frozen=True)
class SceneConfig:
    table: TableConfig | None = field(default_factory=TableConfig)
    # Object clouds become an occupancy octree with this leaf size; leaves are cubes, so the obstacle covers
    # every point (conservative by up to one leaf).
    object_voxel_m: float = 0.01


@dataclass(frozen=True)
class Scene:
    """Obstacles: an optional table and an optional object cloud (N, 3) in metres, robot base frame.

    An empty cloud (0, 3) means "no object" (e.g. planning a retreat after the object is attached).
    """

    config: SceneConfig = field(default_factory=SceneConfig)
    object_points_m: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def __post_init__(self) -> None:
        points = np.asarray(self.object_points_m, dtype=float)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"object cloud must have shape (N, 3), got {points.shape}")
        if not np.isfinite(points).all():
            raise ValueError("object cloud contains NaN or inf values")
        if self.config.object_voxel_m <= 0:
            raise ValueError(f"object_voxel_m must be positive, got {self.config.object_voxel_m}")
        object.__setattr__(self, "object_points_m", points)

    @property
    def has_object(self) -> bool:
        return len(self.object_points_m) > 0

    def table_geometry(self):
        """(coal.Box, (4, 4) pose) of the table, or None."""
        import coal

        table = self.config.table
        if table is None:
            return None
        pose = np.eye(4)
        pose[:2, 3] = table.center_xy_m
        pose[2, 3] = table.top_z_m - table.thickness_m / 2
        return coal.Box(table.size_xy_m[0], table.size_xy_m[1], table.thickness_m), pose

    def object_geometry(self):
        """coal.OcTree of the object cloud (pose identity), or None when the cloud is empty."""
        import coal

        if not self.has_object:
            return None
        return coal.makeOctree(np.ascontiguousarray(self.object_points_m), float(self.config.object_voxel_m))

    def without_object(self) -> "Scene":
        return Scene(self.config, np.zeros((0, 3)))
