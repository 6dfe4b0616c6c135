"""Object tokens: PointNet++ over the object cloud, optional per-point semantic features, learned-query decoder.

points (B, N, 3) [+ semantic (B, N, F), e.g. DINOv2 features projected onto the cloud by the data pipeline]
  -> PointNet++ features at S centroids (B, S, C) ++ semantic features picked at the same centroids (B, S, F)
  -> linear to D + centroid position embedding -> transformer decoder with L learned queries -> tokens (B, L, D).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from flash_core.geometry.checks import check_points
from flash_core.geometry.neighbors import gather_points
from flash_core.model.pointnet2 import PointNet2, PointNetGrouping, SetAbstractionSpec


@dataclass
class ObjectEncoderConfig:
    num_points: int = 2048  # N expected from the data pipeline (clouds are FPS-resampled to it if larger)
    semantic_dim: int = 0  # F; 0 = no semantic features (the "w/o Semantics" ablation)
    num_tokens: int = 16  # L learned queries
    levels: tuple[SetAbstractionSpec, ...] = (
        SetAbstractionSpec(num_centroids=256, radius_m=0.03, num_neighbors=32, out_dim=128),
        SetAbstractionSpec(num_centroids=64, radius_m=0.08, num_neighbors=32, out_dim=256),
    )
    decoder_layers: int = 2
    decoder_heads: int = 4


class ObjectEncoder(nn.Module):
    def __init__(self, config: ObjectEncoderConfig, d_model: int):
        super().__init__()
        self.config = config
        self.pointnet = PointNet2(config.levels)
        self.point_proj = nn.Linear(self.pointnet.out_dim + config.semantic_dim, d_model)
        self.position = nn.Sequential(nn.Linear(3, d_model), nn.GELU(), nn.Linear(d_model, d_model))
        self.queries = nn.Parameter(torch.randn(config.num_tokens, d_model) * 0.02)
        layer = nn.TransformerDecoderLayer(d_model, config.decoder_heads, 4 * d_model, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, config.decoder_layers)

    def forward(self, points: torch.Tensor, semantic: torch.Tensor | None = None,
                grouping: PointNetGrouping | None = None) -> torch.Tensor:
        """points (B, N, 3) in the object frame, semantic (B, N, F) or None -> object tokens (B, L, D).

        grouping: `self.pointnet.group(points)` computed earlier (a fixed cloud is grouped once)."""
        check_points(points, "object points")
        feature_dim = self.config.semantic_dim
        if feature_dim and semantic is None:
            raise ValueError(f"this model was built with semantic features (F = {feature_dim}); pass them as "
                             "object_features (B, N, F)")
        if feature_dim and semantic.shape != (*points.shape[:2], feature_dim):
            raise ValueError(f"object features must be {(*points.shape[:2], feature_dim)}, got {tuple(semantic.shape)}")
        centroids, geometric, index = self.pointnet(points, grouping=grouping)  # (B, S, 3), (B, S, C), (B, S)
        if feature_dim:
            if not torch.isfinite(semantic).all():
                raise ValueError("object features contain NaN or inf")
            geometric = torch.cat((geometric, gather_points(semantic, index)), dim=-1)
        memory = self.point_proj(geometric) + self.position(centroids)  # (B, S, D)
        queries = self.queries.unsqueeze(0).expand(points.shape[0], -1, -1)  # (B, L, D)
        return self.decoder(queries, memory)  # (B, L, D)
