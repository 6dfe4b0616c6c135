"""A plane facing up, in numpy: the points x with normal . x + offset_m = 0, the unit normal pointing up.

The one place that turns a measured plane into that form, from a pose (a point of the plane as origin, the normal
as z axis: flash_perception's `table_plane`) or from coefficients (a, b, c, d) of a x + b y + c z + d = 0 (open3d's
`segment_plane`), flipping a normal that points down. Perception's table fit, the planner's table
(`planning.scene.table_from_plane`) and the generator's torch `SupportPlane` all build on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UP = (0.0, 0.0, 1.0)  # "up" of a frame unless said otherwise: its +z


@dataclass(frozen=True)
class Plane:
    """normal (3,): scaled to unit length here (offset_m is kept: it is the offset along the unit normal), pointing
    up (the side an object rests on); offset_m: the plane is normal . x + offset_m = 0. `from_pose` and
    `from_coefficients` make the normal face up; built directly, it is taken as given."""

    normal: np.ndarray
    offset_m: float

    def __post_init__(self) -> None:
        normal = np.asarray(self.normal, dtype=float).reshape(-1)
        if normal.shape != (3,) or not np.isfinite(normal).all() or np.linalg.norm(normal) < 1e-6:
            raise ValueError(f"a plane needs a finite non-zero normal (3,), got {self.normal}")
        if not np.isfinite(self.offset_m):
            raise ValueError(f"a plane needs a finite offset, got {self.offset_m}")
        object.__setattr__(self, "normal", normal / np.linalg.norm(normal))
        object.__setattr__(self, "offset_m", float(self.offset_m))

    @classmethod
    def from_pose(cls, pose: np.ndarray, up: tuple[float, float, float] = UP) -> Plane:
        """The plane through the origin of pose (4, 4) with its z axis as normal, facing `up`."""
        pose = np.asarray(pose, dtype=float)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise ValueError(f"a plane pose must be a finite (4, 4) matrix, got shape {pose.shape}")
        normal = cls(pose[:3, 2], 0.0).normal  # the z axis, checked and scaled to unit length
        return cls(normal, float(-normal @ pose[:3, 3])).facing(up)

    @classmethod
    def from_coefficients(cls, coefficients: np.ndarray, up: tuple[float, float, float] = UP) -> Plane:
        """The plane a x + b y + c z + d = 0 of coefficients (4,) = (a, b, c, d), facing `up`."""
        coefficients = np.asarray(coefficients, dtype=float).reshape(-1)
        if coefficients.shape != (4,) or not np.isfinite(coefficients).all():
            raise ValueError(f"plane coefficients must be 4 finite numbers (a, b, c, d), got {coefficients}")
        length = np.linalg.norm(coefficients[:3])
        if length < 1e-12:
            raise ValueError(f"plane coefficients {coefficients.tolist()} have no normal (a, b, c all zero)")
        return cls(coefficients[:3] / length, float(coefficients[3] / length)).facing(up)

    def facing(self, up: tuple[float, float, float] = UP) -> Plane:
        """This plane with its normal on the side of `up` (3,) (kept when perpendicular to it)."""
        return self if self.normal @ np.asarray(up, dtype=float) >= 0 else Plane(-self.normal, -self.offset_m)

    def tilt_deg(self, up: tuple[float, float, float] = UP) -> float:
        """The angle between the normal and `up` (3,), degrees: 0 for a level plane."""
        up = np.asarray(up, dtype=float) / np.linalg.norm(up)
        return float(np.degrees(np.arccos(np.clip(self.normal @ up, -1.0, 1.0))))

    def signed_distance_m(self, points_m: np.ndarray) -> np.ndarray:
        """(P, 3) -> (P,) metres, positive above the plane."""
        return points_m @ self.normal + self.offset_m

    def project(self, point_m: np.ndarray) -> np.ndarray:
        """The foot (3,) of `point_m` (3,) on the plane."""
        return point_m - self.signed_distance_m(point_m[None])[0] * self.normal
