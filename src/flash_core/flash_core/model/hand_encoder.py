"""Live hand tokens: the hand's surface cloud at the current state x_t, encoded by PointNet++.

The cloud comes from the hand model (`hand.surface_points(x) -> (B, M, 3)`: one batched forward kinematics plus the
wrist transform), in the same object-centred frame as the object cloud, so the network sees where fingers are
relative to the object at every ODE step, not only the parameter vector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from flash_core.model.pointnet2 import PointNet2, SetAbstractionSpec

HandCloudFn = Callable[[torch.Tensor], torch.Tensor]  # x (B, 25) -> surface points (B, M, 3)


@dataclass
class HandEncoderConfig:
    levels: tuple[SetAbstractionSpec, ...] = (
        SetAbstractionSpec(num_centroids=64, radius_m=0.03, num_neighbors=16, out_dim=128),
        SetAbstractionSpec(num_centroids=16, radius_m=0.07, num_neighbors=16, out_dim=256),
    )


class HandEncoder(nn.Module):
    def __init__(self, config: HandEncoderConfig, d_model: int):
        super().__init__()
        self.pointnet = PointNet2(config.levels)
        self.proj = nn.Linear(self.pointnet.out_dim, d_model)
        self.position = nn.Sequential(nn.Linear(3, d_model), nn.GELU(), nn.Linear(d_model, d_model))

    def forward(self, hand_points: torch.Tensor) -> torch.Tensor:
        """hand_points (B, M, 3) -> hand tokens (B, S, D)."""
        centroids, features, _ = self.pointnet(hand_points)
        return self.proj(features) + self.position(centroids)
