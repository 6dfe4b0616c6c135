"""Rigid transforms in numpy (float64): what the frame tree and the ROS glue compose, invert and interpolate.

Conventions (the same as `rotations`, which holds the torch side):
- `T_a_b` (4, 4) maps points of frame b into frame a: p_a = T_a_b @ [p_b, 1]; T_a_c = T_a_b @ T_b_c.
- Quaternions here are (x, y, z, w), scalar LAST: the order of geometry_msgs/Quaternion and scipy. The name of
  every argument says so (`quaternion_xyzw`), because `rotations` uses (w, x, y, z).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# A rotation block further than this from orthonormal (Frobenius norm of R^T R - I) is not a rotation.
_ORTHONORMAL_TOL = 1e-6


def check_transform(transform: np.ndarray, what: str = "transform") -> np.ndarray:
    """A finite rigid (4, 4) transform as float64, or a ValueError naming `what` and the problem."""
    matrix = np.asarray(transform, dtype=np.float64)
    if matrix.shape != (4, 4):
        raise ValueError(f"{what} must be a (4, 4) matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"{what} has non-finite entries")
    if not np.allclose(matrix[3], (0.0, 0.0, 0.0, 1.0)):
        raise ValueError(f"{what} has bottom row {matrix[3].tolist()}, expected [0, 0, 0, 1]")
    rotation = matrix[:3, :3]
    if np.linalg.norm(rotation.T @ rotation - np.eye(3)) > _ORTHONORMAL_TOL or np.linalg.det(rotation) < 0:
        raise ValueError(f"{what} has a rotation block that is not a proper rotation")
    return matrix


def transform_from_quaternion(translation_m, quaternion_xyzw) -> np.ndarray:
    """(3,) translation and (4,) quaternion (x, y, z, w; normalised here) -> (4, 4) transform."""
    translation = np.asarray(translation_m, dtype=np.float64)
    quaternion = np.asarray(quaternion_xyzw, dtype=np.float64)
    if translation.shape != (3,) or not np.all(np.isfinite(translation)):
        raise ValueError(f"translation must be 3 finite numbers, got {translation.tolist()}")
    norm = np.linalg.norm(quaternion) if quaternion.shape == (4,) else np.nan
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"quaternion (x, y, z, w) must be 4 finite numbers, not all zero, got {quaternion.tolist()}")
    out = np.eye(4)
    out[:3, :3] = Rotation.from_quat(quaternion / norm).as_matrix()
    out[:3, 3] = translation
    return out


def transform_to_quaternion(transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(4, 4) -> (translation (3,), quaternion (x, y, z, w) (4,) with w >= 0)."""
    matrix = check_transform(transform)
    quaternion = Rotation.from_matrix(matrix[:3, :3]).as_quat()
    return matrix[:3, 3].copy(), quaternion if quaternion[3] >= 0 else -quaternion


def invert_transform(transform: np.ndarray) -> np.ndarray:
    """T_a_b -> T_b_a, exactly (transposed rotation), not by a general matrix inverse."""
    rotation, translation = transform[:3, :3], transform[:3, 3]
    out = np.eye(4)
    out[:3, :3] = rotation.T
    out[:3, 3] = -rotation.T @ translation
    return out


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """T_a_b (4, 4), points in b (..., 3) -> the points in a (..., 3)."""
    return points @ transform[:3, :3].T + transform[:3, 3]


def rotate_vectors(transform: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Directions (normals, approach vectors) (..., 3) from b into a: rotation only."""
    return vectors @ transform[:3, :3].T


def interpolate_transform(start: np.ndarray, end: np.ndarray, fraction: float) -> np.ndarray:
    """The transform `fraction` of the way from start (0) to end (1): linear translation, slerp rotation.

    Slerp written as R0 exp(f log(R0^T R1)): the same geodesic (shortest, constant angular rate) as scipy's
    Slerp, at a third of its cost, since no interpolator object is built per call."""
    relative = Rotation.from_matrix(start[:3, :3].T @ end[:3, :3]).as_rotvec()  # angle in [0, pi]
    out = np.eye(4)
    out[:3, :3] = start[:3, :3] @ Rotation.from_rotvec(fraction * relative).as_matrix()
    out[:3, 3] = (1.0 - fraction) * start[:3, 3] + fraction * end[:3, 3]
    return out
