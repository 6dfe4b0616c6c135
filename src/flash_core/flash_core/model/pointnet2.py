"""PointNet++ set abstraction (Qi et al., NeurIPS 2017) in torch.

One level: pick S centroids by farthest point sampling, group up to k neighbours of each within a radius (ball
query), run a shared MLP on [neighbour offset / radius, neighbour features] and max-pool over the group. Sampling and
grouping come from `flash_core.geometry`; this module only adds the learned part.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from flash_core.geometry.neighbors import ball_query, gather_points, group_points
from flash_core.geometry.sampling import farthest_point_sample


@dataclass(frozen=True)
class SetAbstractionSpec:
    num_centroids: int
    radius_m: float
    num_neighbors: int
    out_dim: int


class SetAbstraction(nn.Module):
    def __init__(self, spec: SetAbstractionSpec, in_dim: int):
        super().__init__()
        self.spec = spec
        hidden = spec.out_dim // 2
        self.mlp = nn.Sequential(
            nn.Linear(3 + in_dim, hidden), nn.LayerNorm(hidden), nn.GELU(),
            nn.Linear(hidden, spec.out_dim), nn.LayerNorm(spec.out_dim), nn.GELU(),
        )

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None):
        """xyz (B, N, 3), features (B, N, C) or None -> centroids (B, S, 3), features (B, S, out), index (B, S)."""
        spec = self.spec
        centroid_index = farthest_point_sample(xyz, min(spec.num_centroids, xyz.shape[1]))  # (B, S)
        centroids = gather_points(xyz, centroid_index)  # (B, S, 3)
        neighbor_index = ball_query(centroids, xyz, spec.radius_m, spec.num_neighbors).idx  # (B, S, k)
        # Offsets scaled by the radius so every level sees coordinates of order one.
        offsets = group_points(xyz, centroids, neighbor_index) / spec.radius_m  # (B, S, k, 3)
        grouped = offsets if features is None else torch.cat((offsets, gather_points(features, neighbor_index)), -1)
        pooled = self.mlp(grouped).amax(dim=2)  # (B, S, out)
        return centroids, pooled, centroid_index


class PointNet2(nn.Module):
    """Stacked set abstractions: a cloud (B, N, 3) [+ features (B, N, C)] -> S_last point features."""

    def __init__(self, specs: tuple[SetAbstractionSpec, ...], in_dim: int = 0):
        super().__init__()
        layers, dim = [], in_dim
        for spec in specs:
            layers.append(SetAbstraction(spec, dim))
            dim = spec.out_dim
        self.levels = nn.ModuleList(layers)
        self.out_dim = dim

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None = None):
        """Returns centroids (B, S, 3), features (B, S, out) and each centroid's index in the input (B, S)."""
        index = None
        for level in self.levels:
            xyz, features, level_index = level(xyz, features)
            index = level_index if index is None else torch.gather(index, 1, level_index)
        return xyz, features, index
