"""Voxel-grid downsampling and Euclidean clustering (connected components of the r-neighbourhood graph, as PCL's
EuclideanClusterExtraction: open3d's DBSCAN with min_points 1, where every point is a core point).

Clustering runs on voxel centroids, not on the raw cloud: a depth camera gives ~1 mm spacing at arm's length, so a
2 cm neighbourhood holds ~1000 raw points but a few dozen voxels. Each raw point then takes its voxel's label.

The voxel grid stays in numpy because it must map every raw point to its voxel: open3d's
`voxel_down_sample_and_trace` gives that map as one Python list per voxel, and building it and reading it back
took ~0.44 s on a 640 x 480 scene against ~0.035 s here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

NOISE = -1  # label of points in no cluster (a component smaller than the minimum size)


@dataclass(frozen=True)
class VoxelGrid:
    centroids_m: np.ndarray  # (V, 3) mean of the points in each occupied voxel
    counts: np.ndarray  # (V,) int64 points per voxel
    voxel_of_point: np.ndarray  # (P,) int64 index into centroids_m


def voxel_downsample(points_m: np.ndarray, voxel_size_m: float) -> VoxelGrid:
    """Group points (P, 3) by the cubic voxel of side `voxel_size_m` they fall in; voxels in lexicographic order
    of their cell."""
    if not voxel_size_m > 0:
        raise ValueError(f"voxel_size_m must be positive, got {voxel_size_m}")
    cells = np.floor(points_m / voxel_size_m).astype(np.int64)  # (P, 3)
    cells -= cells.min(0)
    span = cells.max(0) + 1
    if np.prod(span.astype(np.float64)) >= 2.0**62:
        raise ValueError(f"the cloud spans {span.tolist()} voxels of {voxel_size_m} m: too many to index")
    # One int64 key per cell (row-major over the cells' box): a 1-D unique is ~10x faster than unique(axis=0).
    keys = (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
    _, voxel_of_point, counts = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, voxel_of_point, points_m)
    return VoxelGrid(sums / counts[:, None], counts, voxel_of_point)


def euclidean_clusters(points_m: np.ndarray, distance_m: float, min_points: int = 1,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """Labels (P,) int64 of points (P, 3): two points closer than `distance_m` share a cluster. Clusters are
    numbered 0, 1, ... by decreasing weight (point count, or the sum of `weights` (P,), e.g. voxel counts); those
    weighing less than `min_points` are NOISE."""
    if not distance_m > 0:
        raise ValueError(f"distance_m must be positive, got {distance_m}")
    count = len(points_m)
    if count == 0:
        return np.zeros(0, np.int64)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points_m, np.float64)))
    component = np.asarray(cloud.cluster_dbscan(distance_m, 1, print_progress=False), np.int64)  # (P,) 0, 1, ...
    weight = np.bincount(component, weights=np.ones(count) if weights is None else weights)
    order = np.argsort(-weight, kind="stable")  # biggest first
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = rank[component]
    labels[weight[component] < min_points] = NOISE
    return labels.astype(np.int64)
