"""Neighbour search on batched point clouds: kNN, ball query (PointNet++ style), gather and group.

Indices are found without gradients; distances are then recomputed from the gathered points, so they
are exact and differentiable. Two exact nearest-neighbour backends:
- ``"brute"``: the (B, N, M) distance matrix via one matmul, chunked over queries so memory stays
  bounded (`max_pairs_per_chunk` distances at a time); the fast choice on a GPU;
- ``"kdtree"``: scipy's cKDTree per batch element, ~15x faster than brute force on a 2-core CPU for
  large problems (memory traffic, not arithmetic, bounds the matrix there);
``"auto"`` picks brute force off the CPU, and on the CPU for problems of at most `CPU_BRUTE_MAX_PAIRS`
distances (B x N x M): there a tree costs more to build and to start its worker threads (every query
starts them) than the whole matrix, e.g. the live hand cloud's ball query (16 x 64 x 1024 distances:
2.4 ms brute force, 15 ms through the tree, 2 cores); larger problems go to the tree. Both give ball
query's PointNet++ result (the first neighbours in index order), so CPU and GPU agree up to float
rounding at the radius.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.spatial import cKDTree

from flash_core.geometry.checks import check_point_pair

DEFAULT_MAX_PAIRS_PER_CHUNK = 1 << 24  # 16M distances: 64 MB in float32
# "auto" on a CPU: brute force up to this many distances per call (measured crossover on 2 cores, both
# kNN and ball query: 2M distances cost about the same either way).
CPU_BRUTE_MAX_PAIRS = 1 << 21

NeighborBackend = Literal["auto", "brute", "kdtree"]


@dataclass(frozen=True)
class KNNResult:
    """k nearest reference points of each query point, nearest first."""

    dist_m: torch.Tensor  # (B, N, k) Euclidean distance, differentiable w.r.t. both clouds
    idx: torch.Tensor  # (B, N, k) int64 index into the reference cloud


@dataclass(frozen=True)
class BallQueryResult:
    """Up to `max_samples` reference points within `radius_m` of each centre, in index order.

    As in PointNet++, unused slots repeat the first neighbour found; a centre with no neighbour gets
    index 0 throughout. `valid` tells real neighbours from padding.
    """

    idx: torch.Tensor  # (B, M, K) int64 index into the reference cloud
    valid: torch.Tensor  # (B, M, K) bool, True for real neighbours
    counts: torch.Tensor  # (B, M) int64 number of real neighbours (<= K)


def squared_distance_matrix(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """All pairwise squared distances via one matmul: (B, N, 3) x (B, M, 3) -> (B, N, M).

    Rounding can shift values by ~1e-7 relative to |x|^2; use it to rank neighbours, then recompute
    exact distances from the chosen points.
    """
    sq = x.square().sum(-1, keepdim=True) + y.square().sum(-1).unsqueeze(1) - 2.0 * x @ y.transpose(1, 2)
    return sq.clamp_min_(0.0)


def query_chunks(num_queries: int, num_refs: int, batch: int, max_pairs: int) -> list[slice]:
    """Slices over the query axis so each (B, chunk, M) block holds at most `max_pairs` entries."""
    per_chunk = max(1, max_pairs // max(1, batch * num_refs))
    return [slice(start, min(start + per_chunk, num_queries)) for start in range(0, num_queries, per_chunk)]


def gather_points(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Pick rows per batch element: points (B, N, C), idx (B, *S) int64 -> (B, *S, C). Differentiable."""
    if idx.shape[0] != points.shape[0]:
        raise ValueError(f"idx batch size {idx.shape[0]} does not match points batch size {points.shape[0]}")
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"idx must be an integer tensor, got {idx.dtype}")
    batch, channels = points.shape[0], points.shape[-1]
    flat = idx.reshape(batch, -1, 1).long().expand(-1, -1, channels)  # (B, prod(S), C)
    return torch.gather(points, 1, flat).reshape(*idx.shape, channels)


def group_points(points: torch.Tensor, centers: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Neighbourhoods in their centre's frame: points (B, N, 3), centers (B, M, 3), idx (B, M, K) -> (B, M, K, 3)."""
    return gather_points(points, idx) - centers.unsqueeze(2)


def _resolve_backend(backend: NeighborBackend, query: torch.Tensor, reference: torch.Tensor) -> str:
    """"auto" -> brute force in chunks off the CPU or for small problems, a k-d tree (scipy) for large ones on
    the CPU; unknown names are a ValueError."""
    if backend == "auto":
        pairs = query.shape[0] * query.shape[1] * reference.shape[1]
        return "kdtree" if query.device.type == "cpu" and pairs > CPU_BRUTE_MAX_PAIRS else "brute"
    if backend not in ("brute", "kdtree"):
        raise ValueError(f"unknown neighbour backend {backend!r}; choose 'auto', 'brute' or 'kdtree'")
    return backend


@torch.no_grad()
def nearest_indices(
    query: torch.Tensor,
    reference: torch.Tensor,
    k: int,
    backend: NeighborBackend = "auto",
    max_pairs_per_chunk: int = DEFAULT_MAX_PAIRS_PER_CHUNK,
) -> torch.Tensor:
    """Indices (B, N, k) int64 of the k nearest `reference` (B, M, 3) points of each `query` (B, N, 3).

    Nearest first."""
    if _resolve_backend(backend, query, reference) == "kdtree":
        queries, references = query.detach().cpu().numpy(), reference.detach().cpu().numpy()
        # On the calling thread (no `workers`): scipy starts Python threads for every query, and beside torch's
        # own threads that made a GraspGenerator request 3-9 % slower on 2 cores (docs/benchmarks.md).
        idx = np.stack(
            [
                cKDTree(r).query(q, k=[*range(1, k + 1)])[1]
                for q, r in zip(queries, references, strict=True)
            ]
        )
        return torch.from_numpy(idx.astype(np.int64)).to(query.device)
    chunks = query_chunks(query.shape[1], reference.shape[1], query.shape[0], max_pairs_per_chunk)
    blocks = [
        squared_distance_matrix(query[:, rows], reference).topk(k, dim=-1, largest=False).indices for rows in chunks
    ]
    return torch.cat(blocks, dim=1)


def knn(
    query: torch.Tensor,
    reference: torch.Tensor,
    k: int,
    backend: NeighborBackend = "auto",
    max_pairs_per_chunk: int = DEFAULT_MAX_PAIRS_PER_CHUNK,
) -> KNNResult:
    """k nearest neighbours in `reference` (B, M, 3) of every point of `query` (B, N, 3)."""
    check_point_pair(query, reference, ("query", "reference"))
    if not 0 < k <= reference.shape[1]:
        raise ValueError(f"k must be in [1, {reference.shape[1]}] (reference cloud size), got {k}")
    idx = nearest_indices(query, reference, k, backend, max_pairs_per_chunk)  # (B, N, k)
    dist = torch.linalg.vector_norm(query.unsqueeze(2) - gather_points(reference, idx), dim=-1)
    return KNNResult(dist_m=dist, idx=idx)


@torch.no_grad()
def ball_query(
    centers: torch.Tensor,
    reference: torch.Tensor,
    radius_m: float,
    max_samples: int,
    backend: NeighborBackend = "auto",
    max_pairs_per_chunk: int = DEFAULT_MAX_PAIRS_PER_CHUNK,
) -> BallQueryResult:
    """First `max_samples` points of `reference` (B, N, 3) within `radius_m` of each of `centers` (B, M, 3)."""
    check_point_pair(centers, reference, ("centers", "reference"))
    if radius_m <= 0 or max_samples <= 0:
        raise ValueError(f"radius_m and max_samples must be positive, got {radius_m} and {max_samples}")
    if _resolve_backend(backend, centers, reference) == "kdtree":
        candidates = _ball_candidates_kdtree(centers, reference, radius_m, max_samples)
    else:
        candidates = _ball_candidates_brute(centers, reference, radius_m, max_samples, max_pairs_per_chunk)
    valid = candidates < reference.shape[1]
    first = torch.where(valid[..., :1], candidates[..., :1], 0)
    return BallQueryResult(idx=torch.where(valid, candidates, first), valid=valid, counts=valid.sum(-1))


def _ball_candidates_brute(
    centers: torch.Tensor, reference: torch.Tensor, radius_m: float, max_samples: int, max_pairs: int
) -> torch.Tensor:
    """(B, M, max_samples) first neighbour indices in index order; N marks an empty slot."""
    num_refs = reference.shape[1]
    take = min(max_samples, num_refs)
    order = torch.arange(num_refs, device=reference.device)
    blocks = []
    for rows in query_chunks(centers.shape[1], num_refs, centers.shape[0], max_pairs):
        inside = squared_distance_matrix(centers[:, rows], reference) <= radius_m**2  # (B, c, N)
        # Outsiders get index N so the `take` smallest indices are the first neighbours in index order.
        blocks.append(torch.where(inside, order, num_refs).topk(take, dim=-1, largest=False).values)
    candidates = torch.cat(blocks, dim=1)  # (B, M, take)
    if take < max_samples:
        candidates = torch.cat(
            [candidates, candidates.new_full((*candidates.shape[:2], max_samples - take), num_refs)], -1
        )
    return candidates


def _ball_candidates_kdtree(
    centers: torch.Tensor, reference: torch.Tensor, radius_m: float, max_samples: int
) -> torch.Tensor:
    """Same contract as `_ball_candidates_brute`, from scipy's kd-tree (neighbours come sorted by index)."""
    batch, num_centers, num_refs = centers.shape[0], centers.shape[1], reference.shape[1]
    candidates = np.full((batch, num_centers, max_samples), num_refs, dtype=np.int64)
    clouds, queries = reference.detach().cpu().numpy(), centers.detach().cpu().numpy()
    for b in range(batch):
        found = cKDTree(clouds[b]).query_ball_point(
            queries[b], radius_m, return_sorted=True
        )
        kept = [neighbors[:max_samples] for neighbors in found]
        counts = np.fromiter(map(len, kept), dtype=np.int64, count=num_centers)
        rows = np.repeat(np.arange(num_centers), counts)
        slots = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        candidates[b, rows, slots] = np.concatenate(kept).astype(np.int64) if counts.any() else []
    return torch.from_numpy(candidates).to(centers.device)
