"""The plane an object rests on (a table), for placing hands above it: points p with normal . p + offset_m = 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class SupportPlane:
    """normal (3,): unit, pointing up (away from the table, towards the object); offset_m: as above."""

    normal: torch.Tensor
    offset_m: float

    def __post_init__(self) -> None:
        normal = torch.as_tensor(self.normal, dtype=torch.float32).reshape(-1)
        if normal.shape != (3,) or not torch.isfinite(normal).all() or normal.norm() < 1e-6:
            raise ValueError(f"a support plane needs a finite non-zero normal (3,), got {self.normal}")
        if not np.isfinite(self.offset_m):
            raise ValueError(f"a support plane needs a finite offset, got {self.offset_m}")
        object.__setattr__(self, "normal", normal / normal.norm())
        object.__setattr__(self, "offset_m", float(self.offset_m))

    @classmethod
    def from_pose(cls, pose: np.ndarray) -> SupportPlane:
        """The plane of a pose (4, 4) whose origin lies on it and whose z axis is its normal (flash_perception's
        `table_plane`); a z axis pointing down is flipped."""
        pose = np.asarray(pose, dtype=float)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise ValueError(f"a plane pose must be a finite (4, 4) matrix, got shape {pose.shape}")
        normal = pose[:3, 2] / max(np.linalg.norm(pose[:3, 2]), 1e-12)
        normal = -normal if normal[2] < 0 else normal
        return cls(torch.as_tensor(normal, dtype=torch.float32), float(-normal @ pose[:3, 3]))

    def height_m(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) -> (...) signed height above the plane."""
        return points @ self.normal.to(points.device, points.dtype) + self.offset_m

    def shifted(self, origin: torch.Tensor) -> SupportPlane:
        """The same plane in a frame whose origin is at `origin` (3,) of this one (p' = p - origin)."""
        return SupportPlane(self.normal, self.offset_m + float(self.normal @ origin.to(self.normal)))
