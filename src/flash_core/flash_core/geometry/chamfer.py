"""Chamfer distance between batched point clouds, both directions, differentiable.

chamfer(x, y) = reduce_i d(x_i, NN_y(x_i)) + reduce_j d(y_j, NN_x(y_j)), where d is the squared
(default, as in pytorch3d) or plain Euclidean distance and reduce is a mean or a sum over points.
Nearest neighbours are found without gradients (kd-tree on CPU, chunked brute force elsewhere; see
`flash_core.geometry.neighbors`); the distances are then recomputed from the matched points, so
gradients flow to both clouds exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from flash_core.geometry.checks import check_point_pair
from flash_core.geometry.neighbors import DEFAULT_MAX_PAIRS_PER_CHUNK, NeighborBackend, gather_points, nearest_indices

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
    backend: NeighborBackend = "auto",
    max_pairs_per_chunk: int = DEFAULT_MAX_PAIRS_PER_CHUNK,
) -> ChamferResult:
    """Chamfer distance between x (B, N, 3) and y (B, M, 3)."""
    check_point_pair(x, y, ("x", "y"))
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    x_to_y = _one_sided(x, y, reduction, squared, backend, max_pairs_per_chunk)
    y_to_x = _one_sided(y, x, reduction, squared, backend, max_pairs_per_chunk)
    return ChamferResult(distance=x_to_y + y_to_x, x_to_y=x_to_y, y_to_x=y_to_x)


def _one_sided(
    query: torch.Tensor,
    reference: torch.Tensor,
    reduction: Reduction,
    squared: bool,
    backend: NeighborBackend,
    max_pairs: int,
) -> torch.Tensor:
    nearest = nearest_indices(query, reference, 1, backend, max_pairs)[..., 0]  # (B, N)
    diff = query - gather_points(reference, nearest)  # (B, N, 3)
    dist = diff.square().sum(-1) if squared else torch.linalg.vector_norm(diff, dim=-1)  # (B, N)
    return dist.mean(-1) if reduction == "mean" else dist.sum(-1)
