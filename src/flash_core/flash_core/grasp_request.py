"""Checks on one grasp request before it reaches the model, and on the grasps before they leave.

A server answers many clients; one client's mistake (a 1-point cloud, NaN normals, 100,000 grasps, a negative time
budget) must get a message that names it, never a crash, a stall or NaN scores. The bounds are `RequestLimits`:
- num_grasps: 1..max_num_grasps (0 asks for the server's default); memory and time grow linearly with it;
- object cloud: rows whose point or normal is NaN/inf (or whose normal has zero length) are dropped; between
  min_points and max_points rows must remain, every coordinate within max_abs_coordinate_m of the frame's origin
  (farther points are garbage or a unit mistake, and overflow float32 sums);
- time budget: >= 0 s and finite (0 means no limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class InvalidRequest(ValueError):
    """A request the model cannot serve, with the reason."""


class NoUsableObject(InvalidRequest):
    """A request whose object cloud has too few usable points."""


@dataclass(frozen=True)
class RequestLimits:
    max_num_grasps: int = 256
    min_points: int = 32
    max_points: int = 100_000
    max_abs_coordinate_m: float = 1000.0

    def __post_init__(self):
        if self.max_num_grasps < 1:
            raise ValueError(f"max_num_grasps must be >= 1, got {self.max_num_grasps}")
        if not 1 <= self.min_points <= self.max_points:
            raise ValueError(f"need 1 <= min_points <= max_points, got {self.min_points} and {self.max_points}")
        if not self.max_abs_coordinate_m > 0:
            raise ValueError(f"max_abs_coordinate_m must be > 0, got {self.max_abs_coordinate_m}")


@dataclass
class ObjectCloud:
    points: np.ndarray  # (N, 3) float32, finite
    normals: np.ndarray | None  # (N, 3) float32 unit vectors, or None when the request had none


def check_num_grasps(requested: int, default: int, limits: RequestLimits) -> int:
    """The number of grasps to generate: `requested`, or `default` for 0."""
    count = requested or default
    if not 1 <= count <= limits.max_num_grasps:
        raise InvalidRequest(f"num_grasps {count} is out of range: 1..{limits.max_num_grasps} "
                             f"(0 asks for the default, {default})")
    return count


def check_time_budget(budget_s: float) -> float | None:
    """The budget in seconds, or None for no limit (0)."""
    if not math.isfinite(budget_s) or budget_s < 0:
        raise InvalidRequest(f"time_budget {budget_s} s is invalid: give a finite duration >= 0 (0: no limit)")
    return budget_s or None


def clean_object_cloud(points: np.ndarray, normals: np.ndarray | None, limits: RequestLimits) -> ObjectCloud:
    """points (N, 3) and optional normals (N, 3) -> the usable rows, normals scaled to unit length."""
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InvalidRequest(f"object points must be (N, 3), got {points.shape}")
    usable = np.isfinite(points).all(axis=1)
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float32)
        if normals.shape != points.shape:
            raise InvalidRequest(f"object normals {normals.shape} do not match points {points.shape}")
        with np.errstate(invalid="ignore", over="ignore"):
            length = np.linalg.norm(normals.astype(np.float64), axis=1)
        usable &= np.isfinite(length) & (length > 1e-6)
    kept = int(usable.sum())
    dropped = len(points) - kept
    if kept < limits.min_points:
        why = f" ({dropped} of {len(points)} dropped for NaN/inf points or unusable normals)" if dropped else ""
        raise NoUsableObject(f"object cloud has {kept} usable points{why}; at least {limits.min_points} are needed")
    if kept > limits.max_points:
        raise InvalidRequest(f"object cloud has {kept} points, more than the {limits.max_points} served: "
                             "downsample it first")
    points = points[usable]
    farthest = float(np.abs(points).max())
    if farthest > limits.max_abs_coordinate_m:
        raise InvalidRequest(f"object cloud has a coordinate of {farthest:.3g} m, beyond "
                             f"{limits.max_abs_coordinate_m:g} m: check its units and frame")
    if normals is not None:
        normals = (normals[usable] / length[usable, None]).astype(np.float32)
    return ObjectCloud(points, normals)


def count_nonfinite_grasps(vectors: np.ndarray, scores: np.ndarray) -> int:
    """How many of K grasps (vectors (K, D), scores (K,)) hold a NaN/inf; a server must not hand those out."""
    finite = np.isfinite(np.asarray(vectors, dtype=np.float64)).all(axis=1) & np.isfinite(np.asarray(scores))
    return int((~finite).sum())
