"""A tabletop scene cloud in the robot base frame -> the table plane, the objects on it, and one target object's
cloud (points and normals) resampled to the grasp model's point count.

    config = SegmentationConfig(workspace_min_m=(0.3, -0.4, -0.05), workspace_max_m=(0.9, 0.4, 0.4))
    scene = segment_scene(points_m, config)                    # (P, 3) base frame, z up
    target = select_target(scene, TargetSelection("closest", point_m=(0.6, 0.0, 0.0)))
    cloud = object_cloud(points_m[scene.labels == target], config.num_points, camera_position_m)

Steps: drop non-finite points, crop to the workspace box (base frame), voxel-downsample, fit the table by RANSAC
among near-horizontal planes, keep what lies above it (higher than `min_height_m`, so the table's own noise stays
out), cluster those voxels by Euclidean distance, and carry the voxel labels back to every point. Units: metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from flash_core.geometry.cloud_sdf import estimate_normals
from flash_core.geometry.sampling import farthest_point_sample
from flash_core.perception.clusters import NOISE, euclidean_clusters, voxel_downsample
from flash_core.perception.plane import NoPlaneError, Plane, PlaneFitConfig, fit_plane_ransac, plane_patch

OUTSIDE = -3  # label of points outside the workspace box (or not finite)
TABLE = -2  # label of the table plane's points
# NOISE (-1): above the table but in no cluster big enough; objects are 0, 1, ... (largest first)


class SegmentationError(ValueError):
    """A scene that gives no usable target, with the reason."""


class NoTableError(SegmentationError):
    """No table plane in the workspace."""


class NoObjectError(SegmentationError):
    """No object cluster on the table (or none matching the selection)."""


@dataclass(frozen=True)
class SegmentationConfig:
    """Defaults: a table about 0.5-1 m in front of the robot base, objects of a few cm to 30 cm."""

    workspace_min_m: tuple[float, float, float] = (0.2, -0.6, -0.1)  # crop box, base frame
    workspace_max_m: tuple[float, float, float] = (1.2, 0.6, 0.6)
    voxel_size_m: float = 0.004  # grid of the plane fit and the clustering
    plane: PlaneFitConfig = field(default_factory=PlaneFitConfig)
    min_table_points: int = 500  # raw points the table plane must hold
    min_height_m: float = 0.01  # above the plane: less is the table (its noise, the objects' contact rim)
    max_height_m: float = 0.5  # above the plane: more is not on the table (an arm, a shelf)
    cluster_distance_m: float = 0.012  # voxels closer than this belong to one object
    min_cluster_points: int = 100  # raw points of the smallest object
    num_points: int = 2048  # points of the target cloud (the model's N; FlashModel config.object.num_points)
    seed: int = 0  # RANSAC's sampling

    def __post_init__(self) -> None:
        low, high = np.asarray(self.workspace_min_m, float), np.asarray(self.workspace_max_m, float)
        if low.shape != (3,) or high.shape != (3,) or not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"the workspace box needs 3 finite numbers per corner, got {low} and {high}")
        if not (low < high).all():
            raise ValueError(f"workspace_min_m {low.tolist()} must lie below workspace_max_m {high.tolist()}")
        if not 0.0 <= self.min_height_m < self.max_height_m:
            raise ValueError(f"need 0 <= min_height_m < max_height_m, got {self.min_height_m}, {self.max_height_m}")
        for name in ("voxel_size_m", "cluster_distance_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.cluster_distance_m <= self.voxel_size_m:
            raise ValueError("cluster_distance_m must exceed voxel_size_m, or neighbouring voxels never join")
        if self.min_table_points < 3 or self.min_cluster_points < 1 or self.num_points < 1:
            raise ValueError("min_table_points >= 3, min_cluster_points >= 1 and num_points >= 1 are required")


@dataclass(frozen=True)
class ObjectCluster:
    label: int  # its value in Segmentation.labels
    centroid_m: np.ndarray  # (3,)
    min_m: np.ndarray  # (3,) axis-aligned bounds, base frame
    max_m: np.ndarray  # (3,)
    num_points: int


@dataclass(frozen=True)
class Segmentation:
    labels: np.ndarray  # (P,) int64 per input point: OUTSIDE, TABLE, NOISE or an object label 0, 1, ...
    table: Plane
    table_pose: np.ndarray  # (4, 4) centre of the table's seen rectangle, z along its normal (plane.plane_patch)
    table_size_m: np.ndarray  # (2,) the rectangle's extent along the pose's x and y
    objects: list[ObjectCluster]  # by label (largest first)


def segment_scene(points_m: np.ndarray, config: SegmentationConfig) -> Segmentation:
    """Segment a scene cloud (P, 3), base frame with z up, NaN/inf allowed (they get OUTSIDE).
    Raises SegmentationError (NoTableError, NoObjectError) naming what is missing."""
    points = np.asarray(points_m, np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise SegmentationError(f"the scene cloud must be (P, 3), got {points.shape}")
    finite = np.isfinite(points).all(axis=1)
    if not finite.any():
        raise SegmentationError(f"the scene cloud has no finite point ({len(points)} points)")
    inside = finite.copy()
    inside[finite] = ((points[finite] >= config.workspace_min_m) & (points[finite] <= config.workspace_max_m)).all(1)
    labels = np.full(len(points), OUTSIDE, np.int64)
    if inside.sum() < config.min_table_points:
        raise NoTableError(f"only {int(inside.sum())} of {len(points)} points lie in the workspace box "
                           f"{list(config.workspace_min_m)} .. {list(config.workspace_max_m)} m (base frame): are the "
                           f"cloud's frame, the camera's extrinsics and the box right?")
    cropped = points[inside]
    grid = voxel_downsample(cropped, config.voxel_size_m)
    rng = np.random.default_rng(config.seed)
    try:
        table, _ = fit_plane_ransac(grid.centroids_m, config.plane, rng)
    except NoPlaneError as exc:
        raise NoTableError(f"no table plane in the workspace: {exc}") from exc
    height = table.signed_distance_m(cropped)  # (P',)
    on_table = np.abs(height) <= config.plane.distance_m
    if on_table.sum() < config.min_table_points:
        raise NoTableError(f"the table plane holds {int(on_table.sum())} points, fewer than min_table_points "
                           f"{config.min_table_points}")
    above = (height > config.min_height_m) & (height < config.max_height_m)
    cropped_labels = np.where(on_table, TABLE, OUTSIDE)
    # Cluster the voxels whose points lie above the table; a voxel straddling min_height_m joins by its centroid.
    voxel_above = table.signed_distance_m(grid.centroids_m) > config.min_height_m
    voxel_above &= table.signed_distance_m(grid.centroids_m) < config.max_height_m
    voxel_labels = np.full(len(grid.counts), NOISE, np.int64)
    voxel_labels[voxel_above] = euclidean_clusters(grid.centroids_m[voxel_above], config.cluster_distance_m,
                                                   config.min_cluster_points, weights=grid.counts[voxel_above])
    point_labels = voxel_labels[grid.voxel_of_point]
    cropped_labels[above] = point_labels[above]
    labels[inside] = cropped_labels
    objects = [_summary(label, points[labels == label]) for label in range(int(labels.max(initial=-1)) + 1)]
    if not objects:
        raise NoObjectError(f"no object on the table: no cluster of >= {config.min_cluster_points} points between "
                            f"{config.min_height_m} and {config.max_height_m} m above it")
    table_pose, table_size = plane_patch(table, cropped[on_table])
    return Segmentation(labels, table, table_pose, table_size, objects)


def _summary(label: int, points_m: np.ndarray) -> ObjectCluster:
    return ObjectCluster(label, points_m.mean(0), points_m.min(0), points_m.max(0), len(points_m))


@dataclass(frozen=True)
class TargetSelection:
    """Which object is the target.

    "closest": the object whose centroid is nearest `point_m` (base frame), e.g. where a user pointed;
    "largest": the most points;
    "index": objects ordered left to right as seen from the robot (decreasing base y), `index` 0 the leftmost,
    so "the second object from the left" is index 1.
    """

    mode: Literal["closest", "largest", "index"] = "largest"
    point_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    index: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("closest", "largest", "index"):
            raise ValueError(f"unknown target selection {self.mode!r}: choose 'closest', 'largest' or 'index'")
        if self.mode == "index" and self.index < 0:
            raise ValueError(f"index must be >= 0, got {self.index}")
        if len(self.point_m) != 3 or not np.isfinite(self.point_m).all():
            raise ValueError(f"point_m must be 3 finite numbers, got {self.point_m}")


def select_target(scene: Segmentation, selection: TargetSelection) -> ObjectCluster:
    """The target among scene.objects; NoObjectError when `index` exceeds the objects seen."""
    objects = scene.objects
    if selection.mode == "largest":
        return max(objects, key=lambda o: o.num_points)
    if selection.mode == "closest":
        return min(objects, key=lambda o: float(np.linalg.norm(o.centroid_m - np.asarray(selection.point_m))))
    left_to_right = sorted(objects, key=lambda o: -o.centroid_m[1])
    if selection.index >= len(left_to_right):
        raise NoObjectError(f"object index {selection.index} asked, but only {len(objects)} objects are on the table")
    return left_to_right[selection.index]


@dataclass(frozen=True)
class ObjectCloud:
    points_m: np.ndarray  # (N, 3) float32
    normals: np.ndarray  # (N, 3) float32 unit, facing the camera (outward on the seen side)


def object_cloud(points_m: np.ndarray, num_points: int, camera_position_m: np.ndarray | None = None,
                 normal_neighbors: int = 16) -> ObjectCloud:
    """The object's points (P, 3) -> at most `num_points` of them by farthest point sampling, with normals by local
    PCA (over all P points, so thinning does not blur them), turned towards `camera_position_m` (3,) (a single
    view sees only surfaces that face it), or away from the centroid without a camera."""
    if len(points_m) < 3:
        raise NoObjectError(f"an object cloud needs at least 3 points, got {len(points_m)}")
    points = torch.as_tensor(np.asarray(points_m), dtype=torch.float32)
    if len(points) > num_points:
        keep = farthest_point_sample(points[None], num_points)[0]
    else:
        keep = torch.arange(len(points))
    normals = estimate_normals(points, normal_neighbors)[keep].numpy()
    kept = points[keep].numpy()
    if camera_position_m is not None:
        away = np.sum(normals * (np.asarray(camera_position_m, np.float32) - kept), axis=1) < 0
        normals[away] *= -1
    return ObjectCloud(kept, normals)
