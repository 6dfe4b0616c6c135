"""Penetration and contact terms from points and any signed distance field (negative inside).

Generic: the points can be a hand's surface points against an object's SDF (hand-in-object), or the
object's points against a hand's SDF (object-in-hand); the SDF can be an exact `MeshSDF`, an
`SDFGrid` or any callable with the same signature. All terms are differentiable w.r.t. the points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from flash_core.geometry.checks import check_points


class SignedDistanceField(Protocol):
    """points (B, N, 3) -> signed distance (B, N) in metres, negative inside."""

    def __call__(self, points: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class Penetration:
    """How deep points sink into a solid, per point and per batch element (metres)."""

    depth_m: torch.Tensor  # (B, N) max(0, -sdf): zero outside
    max_m: torch.Tensor  # (B,) deepest point
    sum_m: torch.Tensor  # (B,) total depth over the points (DexGraspNet's E_pen)
    inside: torch.Tensor  # (B, N) bool, strictly inside


def signed_distance(points: torch.Tensor, sdf: SignedDistanceField) -> torch.Tensor:
    """Evaluate `sdf` on points (B, N, 3) and check it returned (B, N) finite values."""
    check_points(points)
    distance = sdf(points)
    if distance.shape != points.shape[:-1]:
        raise ValueError(
            f"the SDF returned shape {tuple(distance.shape)} for points {tuple(points.shape)}; "
            f"expected {tuple(points.shape[:-1])}"
        )
    return distance


def penetration(points: torch.Tensor, sdf: SignedDistanceField, mask: torch.Tensor | None = None) -> Penetration:
    """Penetration depth of points (B, N, 3) into the solid described by `sdf`.

    mask: optional (B, N) bool; False points (padding, ignored links) count as not penetrating.
    """
    distance = signed_distance(points, sdf)
    depth = torch.relu(-distance)
    if mask is not None:
        if mask.shape != depth.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"mask must be a bool tensor of shape {tuple(depth.shape)}, got {mask.dtype} {tuple(mask.shape)}"
            )
        depth = torch.where(mask, depth, torch.zeros_like(depth))
    return Penetration(depth_m=depth, max_m=depth.amax(dim=-1), sum_m=depth.sum(dim=-1), inside=depth > 0)


def contact_distance(contact_points: torch.Tensor, sdf: SignedDistanceField) -> torch.Tensor:
    """Distance (B, K) of each contact point (B, K, 3) to the surface: |sdf|, zero when touching.

    Averaging it pulls contact points onto the surface from either side (DexGraspNet's E_dis).
    """
    return signed_distance(contact_points, sdf).abs()
