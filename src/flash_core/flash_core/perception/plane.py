"""The supporting plane of a tabletop scene by RANSAC (open3d's `segment_plane`), restricted to planes near
horizontal.

open3d returns the cloud's largest plane, refined by least squares on its inliers. A large object face or a wall
can outnumber the table, so a plane tilted more than `max_tilt_deg` from "up" is removed from the cloud and the
search repeated, up to `max_planes` times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from flash_core.geometry.plane import UP, Plane


@dataclass(frozen=True)
class PlaneFitConfig:
    distance_m: float = 0.008  # inlier band half-width: depth noise plus the table's own unevenness
    iterations: int = 200  # 3-point hypotheses tried per plane
    max_tilt_deg: float = 20.0  # largest angle between the plane normal and `up`
    max_planes: int = 4  # planes tried, largest first: the tilted ones (walls, object faces) are skipped
    up: tuple[float, float, float] = UP

    def __post_init__(self) -> None:
        if not self.distance_m > 0:
            raise ValueError(f"distance_m must be positive, got {self.distance_m}")
        if self.iterations < 1 or self.max_planes < 1:
            raise ValueError(f"iterations and max_planes must be >= 1, got {self.iterations}, {self.max_planes}")
        if not 0.0 <= self.max_tilt_deg < 90.0:
            raise ValueError(f"max_tilt_deg must lie in [0, 90), got {self.max_tilt_deg}")


class NoPlaneError(ValueError):
    """No near-horizontal plane with enough support in the cloud."""


def fit_plane_ransac(
    points_m: np.ndarray, config: PlaneFitConfig, rng: np.random.Generator, min_inliers: int = 3
) -> tuple[Plane, np.ndarray]:
    """The largest near-horizontal plane (within config.max_tilt_deg of config.up) among the config.max_planes
    largest planes of points_m (P, 3), each with its points within config.distance_m. `rng` seeds open3d's RANSAC
    (its generator is global). Returns the plane and its inlier mask (P,). Raises NoPlaneError when no such plane
    has at least `min_inliers` inliers."""
    points = np.asarray(points_m, np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points_m must be (P, 3), got {points.shape}")
    min_inliers = max(min_inliers, 3)
    o3d.utility.random.seed(int(rng.integers(2**31)))
    remaining = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    tilted_deg = []
    for _ in range(config.max_planes):
        if len(remaining.points) < min_inliers:
            break
        model, inlier_indices = remaining.segment_plane(config.distance_m, 3, config.iterations)
        if len(inlier_indices) < min_inliers:
            break
        plane = Plane.from_coefficients(model, config.up)
        tilt_deg = plane.tilt_deg(config.up)
        if tilt_deg <= config.max_tilt_deg:
            return plane, np.abs(plane.signed_distance_m(points)) <= config.distance_m
        tilted_deg.append(round(tilt_deg, 1))
        remaining = remaining.select_by_index(inlier_indices, invert=True)
    raise NoPlaneError(f"no plane within {config.max_tilt_deg} deg of up with at least {min_inliers} inliers among "
                       f"{len(points)} points (planes tilted by {tilted_deg} deg skipped)")


def plane_patch(plane: Plane, points_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rectangle of `plane` that holds its inlier points (P, 3): a pose (4, 4) with z along the normal, x along
    the frame's x projected onto the plane, the origin at the rectangle's centre; and its size (2,) along x and y."""
    z = plane.normal
    x = np.array([1.0, 0.0, 0.0]) - z[0] * z  # the frame's x on the plane (the table is near horizontal)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rotation = np.stack([x, y, z], axis=1)  # (3, 3) columns: the patch's axes
    local = (points_m - plane.project(points_m.mean(0))) @ rotation  # (P, 3) in the patch's axes
    low, high = local[:, :2].min(0), local[:, :2].max(0)
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = plane.project(points_m.mean(0)) + rotation[:, :2] @ ((low + high) / 2)
    return pose, high - low
