"""Centre and scale point clouds to the unit sphere, keeping the transform to undo it.

normalized = (points - center) / scale, with `scale` the largest distance from `center`, so the
normalised cloud fits in the unit ball and touches its boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from flash_core.geometry.checks import check_points

CenterMode = Literal["centroid", "bbox"]


@dataclass(frozen=True)
class Similarity:
    """Uniform scaling about a centre: normalized = (p - center) / scale."""

    center: torch.Tensor  # (B, 3) in the original frame's units (m)
    scale: torch.Tensor  # (B,) original units per normalised unit

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Original frame -> normalised frame, points (B, N, 3)."""
        return (points - self.center.unsqueeze(1)) / self.scale[:, None, None]

    def invert(self, points: torch.Tensor) -> torch.Tensor:
        """Normalised frame -> original frame, points (B, N, 3)."""
        return points * self.scale[:, None, None] + self.center.unsqueeze(1)


def normalize_points(
    points: torch.Tensor, center: CenterMode = "centroid", eps: float = 1e-12
) -> tuple[torch.Tensor, Similarity]:
    """Normalise (B, N, 3) clouds to the unit sphere; returns (normalised (B, N, 3), transform).

    center="centroid" uses the mean point (PointNet convention); "bbox" the bounding-box centre,
    which does not depend on how densely each part is sampled.
    """
    check_points(points)
    if center == "centroid":
        origin = points.mean(dim=1)
    elif center == "bbox":
        origin = 0.5 * (points.amin(dim=1) + points.amax(dim=1))
    else:
        raise ValueError(f"center must be 'centroid' or 'bbox', got {center!r}")
    radius = torch.linalg.vector_norm(points - origin.unsqueeze(1), dim=-1).amax(dim=1)
    if bool((radius <= eps).any()):
        raise ValueError("cannot normalise a cloud whose points all coincide (zero radius)")
    transform = Similarity(center=origin, scale=radius)
    return transform.apply(points), transform
