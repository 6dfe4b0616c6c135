"""Live hand tokens: the hand's surface cloud at the current state x_t, encoded by PointNet++.

The cloud comes from the hand model (`hand.surface_points(x) -> (B, M, 3)`: one batched forward kinematics plus the
wrist transform), in the same object-centred frame as the object cloud, so the network sees where fingers are
relative to the object at every ODE step, not only the parameter vector.

With `object_distance` on (`FlashModelConfig.hand_object_distance`), every hand point also carries where the object
surface is from it (`surface_features`): its signed distance to the nearest object point along that point's normal,
the unsigned distance, and the normal. Without them the hand tokens meet the object only through the 16 coarse
object tokens of the fusion, and millimetre contact (touching, not sinking in) has to be inferred from those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from flash_core.geometry.neighbors import gather_points, knn
from flash_core.model.pointnet2 import PointNet2, SetAbstractionSpec

HandCloudFn = Callable[[torch.Tensor], torch.Tensor]  # x (B, 25) -> surface points (B, M, 3)

# Distances are clamped to +-SURFACE_RANGE_M (farther is "far", whatever the value) and divided by
# SURFACE_SCALE_M, so the features are of order one where contact is decided.
SURFACE_RANGE_M, SURFACE_SCALE_M = 0.05, 0.02
SURFACE_FEATURES = 5  # signed distance, distance, normal (3)


@dataclass
class HandEncoderConfig:
    levels: tuple[SetAbstractionSpec, ...] = (
        SetAbstractionSpec(num_centroids=64, radius_m=0.03, num_neighbors=16, out_dim=128),
        SetAbstractionSpec(num_centroids=16, radius_m=0.07, num_neighbors=16, out_dim=256),
    )


@torch.no_grad()
def surface_features(hand_points: torch.Tensor, object_points: torch.Tensor,
                     object_normals: torch.Tensor) -> torch.Tensor:
    """hand_points (G, R, 3): the hand points of all rows of goal g; object_points, object_normals (G, N, 3): that
    goal's cloud and outward unit normals -> (G, R, 5) per hand point [signed distance along the nearest object
    point's normal (negative: behind the surface), distance to it, its normal], distances clamped and scaled.

    Inputs to the network, not part of its graph: x_t is never differentiated through them."""
    nearest = knn(hand_points, object_points, 1)
    offset = hand_points - gather_points(object_points, nearest.idx[..., 0])  # (G, R, 3)
    normal = gather_points(object_normals, nearest.idx[..., 0])  # (G, R, 3)
    signed = (offset * normal).sum(-1, keepdim=True).clamp(-SURFACE_RANGE_M, SURFACE_RANGE_M)
    distance = nearest.dist_m.clamp(max=SURFACE_RANGE_M)  # (G, R, 1)
    return torch.cat((signed / SURFACE_SCALE_M, distance / SURFACE_SCALE_M, normal), dim=-1)


class HandEncoder(nn.Module):
    def __init__(self, config: HandEncoderConfig, d_model: int, object_distance: bool = False):
        super().__init__()
        self.object_distance = object_distance
        self.pointnet = PointNet2(config.levels, in_dim=SURFACE_FEATURES if object_distance else 0)
        self.proj = nn.Linear(self.pointnet.out_dim, d_model)
        self.position = nn.Sequential(nn.Linear(3, d_model), nn.GELU(), nn.Linear(d_model, d_model))

    def forward(self, hand_points: torch.Tensor, point_features: torch.Tensor | None = None) -> torch.Tensor:
        """hand_points (B, M, 3) [+ point_features (B, M, 5) from `surface_features`] -> hand tokens (B, S, D)."""
        if self.object_distance != (point_features is not None):
            raise ValueError(f"this hand encoder {'needs' if self.object_distance else 'takes no'} surface features")
        centroids, features, _ = self.pointnet(hand_points, point_features)
        return self.proj(features) + self.position(centroids)
