"""Single-view partial clouds: what one depth camera over a table sees of an object, thinned to the model's N points.

A FLASH-Drive object keeps K of these views beside its full cloud (storage.py); training can feed a random one
instead of the full cloud (dataset.py), as a robot's camera would. Each view:

1. places the object (its normalised frame: metres, bounding-box centre at the origin, z up as the sources
   build them) on a table at its lowest point and a camera on a view sphere round its centre, at the
   distances and elevations a tabletop camera has (`ViewConfig`, seeded);
2. renders depth with `flash_core.sim.depth_camera` (a D435-class pinhole by default) and back-projects the
   object's pixels (the table's are left out by the segment labels) into the object frame;
3. thins them by farthest point sampling to N points (fewer visible pixels than N: points repeat, as the
   generator does for small clouds, and the count is kept);
4. labels each point with the normal and part of its closest mesh face and the index of the nearest point of the
   full cloud (whose per-point semantic features then serve the view too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import trimesh

from flash_core.geometry.sampling import farthest_point_sample
from flash_core.geometry.sdf import MeshSDF
from flash_core.sim.depth_camera import CameraIntrinsics, DepthCamera, view_sphere_poses


@dataclass(frozen=True)
class ViewConfig:
    views: int = 8  # K views stored per object
    intrinsics: CameraIntrinsics = field(default_factory=CameraIntrinsics)
    # A camera 0.4-0.7 m from the object's centre, 15-70 degrees above the table: a head or shoulder camera
    # looking down at a tabletop, beyond a D435's ~0.3 m minimum range.
    distance_range_m: tuple[float, float] = (0.4, 0.7)
    elevation_range_deg: tuple[float, float] = (15.0, 70.0)
    table: bool = True  # the object stands on a table plane at its lowest point
    seed: int = 0

    def __post_init__(self) -> None:
        if self.views < 1:
            raise ValueError(f"views must be at least 1, got {self.views}")


@dataclass
class PartialViews:
    """K single-view clouds of one object, N points each, in the object's frame (metres)."""

    points: np.ndarray  # (K, N, 3) float32
    normals: np.ndarray  # (K, N, 3) float32, outward unit normals of the closest mesh faces
    point_parts: np.ndarray  # (K, N) int16, part of the closest mesh face
    nearest: np.ndarray  # (K, N) int32, index of the nearest point of the object's full cloud (-1: none given)
    cam_to_object: np.ndarray  # (K, 4, 4) float32, camera poses, OpenCV frame (x right, y down, z forward)
    visible_points: np.ndarray  # (K,) int32, object pixels in the view before thinning (< N: points repeat)


def thin_cloud(points: np.ndarray, num_points: int) -> np.ndarray:
    """Indices (num_points,) into points (P, 3): farthest point sampling, or every point repeated in turn when
    P < num_points."""
    if len(points) == 0:
        raise ValueError("the cloud is empty: the camera sees nothing of the object")
    if len(points) < num_points:
        return np.arange(num_points) % len(points)
    return farthest_point_sample(torch.as_tensor(points, dtype=torch.float32)[None], num_points)[0].numpy()


def render_partial_views(
    mesh: trimesh.Trimesh,
    num_points: int,
    config: ViewConfig,
    seed: int | list[int] | None = None,
    face_parts: np.ndarray | None = None,
    full_points: np.ndarray | None = None,
    sdf: MeshSDF | None = None,
) -> PartialViews:
    """`config.views` partial clouds of `mesh` (object frame, metres), `num_points` each.

    seed: seeds the camera poses (default `config.seed`). face_parts (F,): part of each mesh face (default 0).
    full_points (M, 3): the object's full cloud, for `nearest`. sdf: the mesh's MeshSDF when already built.
    """
    if num_points < 1:
        raise ValueError(f"num_points must be at least 1, got {num_points}")
    rng = np.random.default_rng(config.seed if seed is None else seed)
    centre = mesh.bounds.mean(0)
    poses = view_sphere_poses(config.views, centre, rng, config.distance_range_m, config.elevation_range_deg)
    table = float(mesh.bounds[0, 2]) if config.table else None
    clouds, visible = [], []
    with DepthCamera([mesh], config.intrinsics, table_height_m=table) as camera:
        for pose in poses:
            seen = camera.render(pose).point_cloud(label=0, normals=False).points_m
            if len(seen) == 0:
                raise ValueError(f"a camera at {np.round(pose[:3, 3], 3).tolist()} m sees nothing of the object")
            clouds.append(seen[thin_cloud(seen, num_points)])
            visible.append(len(seen))
    points = np.stack(clouds)  # (K, N, 3)
    sdf = sdf or MeshSDF.from_trimesh(mesh)
    face = sdf.query(torch.as_tensor(points.reshape(1, -1, 3), dtype=sdf.vertices.dtype)).face[0].numpy()
    parts = np.zeros(len(mesh.faces), np.int64) if face_parts is None else np.asarray(face_parts)
    nearest = np.full(points.shape[:2], -1, np.int32)
    if full_points is not None:
        from scipy.spatial import cKDTree

        nearest = cKDTree(full_points).query(points.reshape(-1, 3))[1].reshape(points.shape[:2]).astype(np.int32)
    return PartialViews(
        points=points.astype(np.float32),
        normals=np.asarray(mesh.face_normals[face], np.float32).reshape(points.shape),
        point_parts=parts[face].astype(np.int16).reshape(points.shape[:2]),
        nearest=nearest,
        cam_to_object=poses.astype(np.float32),
        visible_points=np.array(visible, np.int32),
    )
