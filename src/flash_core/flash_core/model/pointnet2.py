"""PointNet++ set abstraction (Qi et al., NeurIPS 2017) in torch.

One level: pick S centroids by farthest point sampling, group up to k neighbours of each within a radius (ball
query), run a shared MLP on [neighbour offset / radius, neighbour features] and max-pool over the group. Sampling and
grouping come from `flash_core.geometry`; this module only adds the learned part.

Which points a level picks and groups depends on the cloud alone, not on the weights: `PointNet2.group(xyz)` returns
it (a `LevelGrouping` per level) and `forward(xyz, grouping=...)` reuses it. A fixed object cloud is therefore
sampled and grouped once and reused at every training step (the trainer caches it per object).
"""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class LevelGrouping:
    """What one level picks and groups, as indices into that level's input cloud (pure geometry)."""

    centroid_index: torch.Tensor  # (B, S) int64, farthest point sampling
    neighbor_index: torch.Tensor  # (B, S, k) int64, ball query around each centroid


PointNetGrouping = tuple[LevelGrouping, ...]  # one per level, in order


def concat_groupings(groupings: Sequence[PointNetGrouping]) -> PointNetGrouping:
    """Groupings of several batches (e.g. one cached per object) joined along the batch axis."""
    return tuple(LevelGrouping(torch.cat([g[level].centroid_index for g in groupings]),
                               torch.cat([g[level].neighbor_index for g in groupings]))
                 for level in range(len(groupings[0])))


class SetAbstraction(nn.Module):
    def __init__(self, spec: SetAbstractionSpec, in_dim: int):
        super().__init__()
        self.spec = spec
        hidden = spec.out_dim // 2
        self.mlp = nn.Sequential(
            nn.Linear(3 + in_dim, hidden), nn.LayerNorm(hidden), nn.GELU(),
            nn.Linear(hidden, spec.out_dim), nn.LayerNorm(spec.out_dim), nn.GELU(),
        )

    @torch.no_grad()
    def group(self, xyz: torch.Tensor) -> LevelGrouping:
        """xyz (B, N, 3) -> the S centroids (FPS) and their k ball-query neighbours, as indices."""
        spec = self.spec
        centroid_index = farthest_point_sample(xyz, min(spec.num_centroids, xyz.shape[1]))  # (B, S)
        centroids = gather_points(xyz, centroid_index)  # (B, S, 3)
        return LevelGrouping(centroid_index, ball_query(centroids, xyz, spec.radius_m, spec.num_neighbors).idx)

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None, grouping: LevelGrouping | None = None):
        """xyz (B, N, 3), features (B, N, C) or None -> centroids (B, S, 3), features (B, S, out), index (B, S).

        grouping: this level's indices for xyz (from `group`), computed here when None."""
        spec = self.spec
        if grouping is None:
            grouping = self.group(xyz)
        centroid_index, neighbor_index = grouping.centroid_index, grouping.neighbor_index  # (B, S), (B, S, k)
        centroids = gather_points(xyz, centroid_index)  # (B, S, 3)
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

    def group(self, xyz: torch.Tensor) -> PointNetGrouping:
        """Every level's sampling and grouping of the cloud xyz (B, N, 3), without running the MLPs."""
        levels = []
        for level in self.levels:
            levels.append(level.group(xyz))
            xyz = gather_points(xyz, levels[-1].centroid_index)
        return tuple(levels)

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None = None,
                grouping: PointNetGrouping | None = None):
        """Returns centroids (B, S, 3), features (B, S, out) and each centroid's index in the input (B, S).

        grouping: `group(xyz)` computed earlier for the same cloud (skips sampling and ball query)."""
        if grouping is not None and len(grouping) != len(self.levels):
            raise ValueError(f"grouping has {len(grouping)} levels, this PointNet++ has {len(self.levels)}")
        index = None
        for i, level in enumerate(self.levels):
            xyz, features, level_index = level(xyz, features, None if grouping is None else grouping[i])
            index = level_index if index is None else torch.gather(index, 1, level_index)
        return xyz, features, index
