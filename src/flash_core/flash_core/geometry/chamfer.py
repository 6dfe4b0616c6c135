"""Chamfer distance between batched point clouds, both directions, differentiable.

chamfer(x, y) = reduce_i d(x_i, NN_y(x_i)) + reduce_j d(y_j, NN_x(y_j)), where d is the squared
(default, as in pytorch3d) or plain Euclidean distance and reduce is a mean or a sum over points.
Nearest neighbours are found in memory-bounded chunks without gradients; the distances are then
recomputed from the matched points, so gradients flow to both clouds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from flash_core.geometry.checks import check_points, check_same_batch
from flash_core.geometry.neighbors import (
    DEFAULT_MAX_PAIRS_PER_CHUNK,
    gather_points,
    query_chunks,
    squared_distance_matrix,
)

Reduction = Literal["mean", "sum"]


@dataclass(frozen=True)
class ChamferResult:
    """Chamfer distance per batch element and its two one-sided terms (units: m^2 if squared else m)."""

    distance: torch.Tensor  # (B,) x_to_y + y_to_x
    x_to_y: torch.Tensor  # (B,) reduced distance from each x point to its nearest y point
    y_to_x: torch.Tensor  # (B,)


def chamfer_distance(
    x: torch.Tensor,
    y: torch.Tensor,
    reduction: Reduction = "mean",
    squared: bool = True,
    max_pairs_per_chunk: int = DEFAULT_MAX_PAIRS_PER_CHUNK,
) -> ChamferResult:
    """Chamfer distance between x (B, N, 3) and y (B, M, 3)."""
    check_points(x, "x")
    check_points(y, "y")
    check_same_batch(x, y, ("x", "y"))
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    x_to_y = _one_sided(x, y, reduction, squared, max_pairs_per_chunk)
    y_to_x = _one_sided(y, x, reduction, squared, max_pairs_per_chunk)
    return ChamferResult(distance=x_to_y + y_to_x, x_to_y=x_to_y, y_to_x=y_to_x)


def nearest_index(query: torch.Tensor, reference: torch.Tensor, max_pairs_per_chunk: int) -> torch.Tensor:
    """Index of the nearest reference point (B, M, 3) for each query point (B, N, 3) -> (B, N) int64."""
    with torch.no_grad():
        chunks = query_chunks(query.shape[1], reference.shape[1], query.shape[0], max_pairs_per_chunk)
        return torch.cat([squared_distance_matrix(query[:, rows], reference).argmin(-1) for rows in chunks], dim=1)


def _one_sided(
    query: torch.Tensor, reference: torch.Tensor, reduction: Reduction, squared: bool, max_pairs: int
) -> torch.Tensor:
    matched = gather_points(reference, nearest_index(query, reference, max_pairs))  # (B, N, 3)
    diff = query - matched
    dist = diff.square().sum(-1) if squared else torch.linalg.vector_norm(diff, dim=-1)  # (B, N)
    return dist.mean(-1) if reduction == "mean" else dist.sum(-1)
