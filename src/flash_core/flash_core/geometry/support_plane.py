"""The plane an object rests on (a table), in torch, for placing hands above it: a `geometry.plane.Plane` (points p
with normal . p + offset_m = 0, the unit normal facing up) whose normal is a tensor for the generator and settling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flash_core.geometry.plane import Plane


@dataclass(frozen=True)
class SupportPlane:
    """normal (3,): float32, scaled to unit length, pointing up (away from the table, towards the object); offset_m:
    as above. Checked by `Plane`."""

    normal: torch.Tensor
    offset_m: float

    def __post_init__(self) -> None:
        plane = Plane(torch.as_tensor(self.normal).detach().cpu().numpy(), self.offset_m)
        object.__setattr__(self, "normal", torch.as_tensor(plane.normal, dtype=torch.float32))
        object.__setattr__(self, "offset_m", plane.offset_m)

    @classmethod
    def from_plane(cls, plane: Plane) -> SupportPlane:
        return cls(torch.as_tensor(plane.normal), plane.offset_m)

    @classmethod
    def from_pose(cls, pose: np.ndarray) -> SupportPlane:
        """The plane of a pose (4, 4) whose origin lies on it and whose z axis is its normal (flash_perception's
        `table_plane`; `Plane.from_pose`, which flips a z axis pointing down)."""
        return cls.from_plane(Plane.from_pose(pose))

    def height_m(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) -> (...) signed height above the plane."""
        return points @ self.normal.to(points.device, points.dtype) + self.offset_m

    def shifted(self, origin: torch.Tensor) -> SupportPlane:
        """The same plane in a frame whose origin is at `origin` (3,) of this one (p' = p - origin)."""
        return SupportPlane(self.normal, self.offset_m + float(self.normal @ origin.to(self.normal)))
