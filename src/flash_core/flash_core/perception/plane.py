"""The supporting plane of a tabletop scene by RANSAC, restricted to planes near horizontal.

Restricting the normal to a cone around "up" keeps a large object face (a box's side) from being taken for the
table. The winning hypothesis is refined by a least-squares fit (SVD) to its inliers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plane:
    """Points x with normal . x + offset_m = 0; the unit normal points up (towards +z of the cloud's frame)."""

    normal: np.ndarray  # (3,) unit
    offset_m: float

    def signed_distance_m(self, points_m: np.ndarray) -> np.ndarray:
        """(P, 3) -> (P,) metres, positive above the plane."""
        return points_m @ self.normal + self.offset_m

    def project(self, point_m: np.ndarray) -> np.ndarray:
        """The foot (3,) of `point_m` (3,) on the plane."""
        return point_m - self.signed_distance_m(point_m[None])[0] * self.normal


@dataclass(frozen=True)
class PlaneFitConfig:
    distance_m: float = 0.008  # inlier band half-width: depth noise plus the table's own unevenness
    iterations: int = 200  # 3-point hypotheses tried
    max_tilt_deg: float = 20.0  # largest angle between the plane normal and +z
    score_points: int = 4000  # hypotheses are scored on a random subset of this many points (cost ~ I x this)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        if not self.distance_m > 0:
            raise ValueError(f"distance_m must be positive, got {self.distance_m}")
        if self.iterations < 1 or self.score_points < 1:
            raise ValueError(f"iterations and score_points must be >= 1, got {self.iterations}, {self.score_points}")
        if not 0.0 <= self.max_tilt_deg < 90.0:
            raise ValueError(f"max_tilt_deg must lie in [0, 90), got {self.max_tilt_deg}")


class NoPlaneError(ValueError):
    """No near-horizontal plane with enough support in the cloud."""


def fit_plane_ransac(
    points_m: np.ndarray, config: PlaneFitConfig, rng: np.random.Generator, min_inliers: int = 3
) -> tuple[Plane, np.ndarray]:
    """The near-horizontal plane (within config.max_tilt_deg of config.up) with the most points within
    config.distance_m, refined by least squares. points_m (P, 3). Returns the plane and its inlier mask (P,).
    Raises NoPlaneError when no such plane has at least `min_inliers` inliers."""
    points = np.asarray(points_m, np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points_m must be (P, 3), got {points.shape}")
    if len(points) < 3:
        raise NoPlaneError(f"a plane needs at least 3 points, the cloud has {len(points)}")
    up = np.asarray(config.up, np.float64) / np.linalg.norm(config.up)
    samples = points[rng.integers(0, len(points), size=(config.iterations, 3))]  # (I, 3, 3)
    normals = np.cross(samples[:, 1] - samples[:, 0], samples[:, 2] - samples[:, 0])  # (I, 3)
    length = np.linalg.norm(normals, axis=1)
    ok = length > 1e-12
    normals[ok] /= length[ok, None]
    normals *= np.where(normals @ up < 0, -1.0, 1.0)[:, None]
    ok &= normals @ up >= np.cos(np.radians(config.max_tilt_deg))
    if not ok.any():
        raise NoPlaneError(f"none of {config.iterations} RANSAC hypotheses is within {config.max_tilt_deg} deg of up")
    normals, anchors = normals[ok], samples[ok, 0]
    offsets = -np.sum(normals * anchors, axis=1)  # (I',)
    scored = points[rng.choice(len(points), config.score_points, replace=False)] if len(points) > config.score_points \
        else points
    counts = (np.abs(scored @ normals.T + offsets) <= config.distance_m).sum(0)  # (I',)
    best = int(np.argmax(counts))
    inliers = np.abs(points @ normals[best] + offsets[best]) <= config.distance_m
    if inliers.sum() < max(min_inliers, 3):
        raise NoPlaneError(f"the best near-horizontal plane has {int(inliers.sum())} inliers, fewer than {min_inliers}")
    plane = _least_squares_plane(points[inliers], up)
    # The refined plane may gain or lose a few points at the band's edge; keep it only while it stays level.
    if plane.normal @ up < np.cos(np.radians(config.max_tilt_deg)):
        plane = Plane(normals[best], float(offsets[best]))
    return plane, np.abs(plane.signed_distance_m(points)) <= config.distance_m


def _least_squares_plane(points_m: np.ndarray, up: np.ndarray) -> Plane:
    centroid = points_m.mean(0)
    normal = np.linalg.svd(points_m - centroid, full_matrices=False)[2][-1]  # least-variance direction
    if normal @ up < 0:
        normal = -normal
    return Plane(normal, float(-normal @ centroid))


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
