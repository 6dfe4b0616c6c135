"""Signed distance to the surface an oriented point cloud samples: what a robot has of an object at run time.

No mesh exists at inference, only the object cloud (full or one camera's view). `CloudSDF` estimates the signed
distance of query points to the surface the cloud samples by implicit moving least squares (Kolluri, "Provably
good moving least squares", SODA 2005; the local-plane form of Öztireli et al. 2009): each of the k nearest cloud
points p_i with outward normal n_i proposes the plane distance n_i . (q - p_i), and the proposals are averaged
with Gaussian weights of |q - p_i| (bandwidth h):

    f(q) = sum_i w_i n_i . (q - p_i) / sum_i w_i,   w_i = exp(-|q - p_i|^2 / h^2)

Negative inside, like every SDF of this package (it satisfies `penetration.SignedDistanceField`, so
`penetration()` and `contact_distance()` take it). It is exact for a flat patch, smooth in q (gradients are used
by the grasp polish), and with k = 1 it is the plane distance of the nearest point. It knows only the sampled
side of a partial cloud: query points farther than `max_distance_m` from every cloud point are reported as
outside (their distance to the cloud), so a hand point behind an unseen side is never judged "inside".
`CloudSDF.bounded` skips the neighbour search for points that far from the cloud's bounding box (most of a hand's
points when it grasps a mug-sized object) and returns a lower bound there, for callers that only compare with
thresholds below `max_distance_m` or take minima (settling).

Clouds without normals get them from `estimate_normals` (local PCA, oriented away from the cloud's centroid).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from flash_core.geometry.checks import check_points
from flash_core.geometry.neighbors import knn, nearest_indices

MIN_BANDWIDTH_M = 1e-4  # a cloud of coincident points has no spacing; keeps the weights finite


def estimate_normals(points: torch.Tensor, neighbors: int = 16) -> torch.Tensor:
    """Unit normals (P, 3) of a cloud (P, 3): the least-variance direction of each point's k nearest neighbours,
    turned to point away from the cloud's centroid (right for convex-ish objects and single views of them)."""
    check_points(points, "points", batched=False)
    k = min(neighbors, points.shape[0])
    near = knn(points[None], points[None], k).idx[0]  # (P, k)
    local = points[near] - points[near].mean(1, keepdim=True)  # (P, k, 3)
    covariance = local.transpose(1, 2) @ local  # (P, 3, 3)
    normals = torch.linalg.eigh(covariance.double()).eigenvectors[..., 0].to(points.dtype)  # smallest eigenvalue
    outward = points - points.mean(0)
    return torch.where(((normals * outward).sum(-1, keepdim=True) < 0), -normals, normals)


class CloudSDF:
    """Callable: query points (B, N, 3) -> signed distance (B, N) in metres, negative inside.

    points (P, 3) and outward unit normals (P, 3) of the cloud (None: estimated). neighbors: k of the average.
    bandwidth_m: h of the weights; None takes twice the median spacing of the cloud (its nearest-neighbour
    distance), so a weight reaches a few neighbours. max_distance_m: beyond it from every cloud point a query is
    outside (None: everywhere the planes decide).
    """

    def __init__(self, points: torch.Tensor, normals: torch.Tensor | None = None, neighbors: int = 8,
                 bandwidth_m: float | None = None, max_distance_m: float | None = None):
        check_points(points, "object cloud", batched=False)
        if normals is None:
            normals = estimate_normals(points)
        elif normals.shape != points.shape:
            raise ValueError(f"normals must match the cloud's shape {tuple(points.shape)}, got {tuple(normals.shape)}")
        if neighbors < 1:
            raise ValueError(f"neighbors must be >= 1, got {neighbors}")
        self.points = points
        self.normals = torch.nn.functional.normalize(normals.to(points), dim=-1)
        self.neighbors = min(neighbors, points.shape[0])
        if bandwidth_m is None and self.neighbors > 1:  # (with one neighbour the weights play no part)
            spacing = knn(points[None], points[None], min(2, points.shape[0])).dist_m[0, :, -1]  # (P,) nearest other
            bandwidth_m = 2.0 * float(spacing.median())
        self.bandwidth_m = max(bandwidth_m or 0.0, MIN_BANDWIDTH_M)
        self.max_distance_m = max_distance_m
        self.box_m = torch.stack((points.amin(0), points.amax(0)))  # (2, 3) the cloud's bounding box: [min, max]
        self._tree: cKDTree | None = None  # built on the first bounded search on the CPU

    def __call__(self, query: torch.Tensor) -> torch.Tensor:
        check_points(query, "query points")
        batch, count, _ = query.shape
        flat = query.reshape(-1, 3)  # one neighbour search for the whole batch
        return self._signed(flat, nearest_indices(flat[None], self.points[None], self.neighbors)[0]).reshape(
            batch, count)

    def bounded(self, query: torch.Tensor) -> torch.Tensor:
        """Query points (B, N, 3) -> (B, N): the signed distance wherever it is below `max_distance_m`, elsewhere
        a lower bound on it of at least `max_distance_m`; for callers that compare it with thresholds below
        max_distance_m or take minima (settling), at a fraction of the cost.

        Beyond max_distance_m of every cloud point the signed distance is the distance to the nearest one (see
        the class), so a point that far from the cloud's bounding box gets its distance to the box, with no
        search; nearer ones are searched within max_distance_m only (on the CPU, where the k-d tree prunes by
        it), and a point with no cloud point that near gets max_distance_m. Without max_distance_m the planes
        decide everywhere and this is the signed distance itself."""
        if self.max_distance_m is None:
            return self(query)
        check_points(query, "query points")
        low, high = self.box_m.to(query)
        box_distance = torch.linalg.vector_norm(query - torch.minimum(torch.maximum(query, low), high), dim=-1)
        near = box_distance < self.max_distance_m  # (B, N)
        if not near.any():
            return box_distance
        return box_distance.masked_scatter(near, self._within_max_distance(query[near]))

    def _within_max_distance(self, query: torch.Tensor) -> torch.Tensor:
        """(Q, 3) -> (Q,): `bounded`'s value of points searched."""
        if query.device.type != "cpu":  # brute force on an accelerator: a bound on the search saves nothing
            return self(query[None])[0]
        if self._tree is None:
            self._tree = cKDTree(self.points.detach().cpu().numpy())
        count, k = len(self.points), [*range(1, self.neighbors + 1)]  # count: the tree's "no neighbour"
        points = query.detach().numpy()
        idx = self._tree.query(points, k=k, distance_upper_bound=self.max_distance_m)[1]  # (Q, k)
        partial = (idx[:, 0] < count) & (idx[:, -1] == count)  # some, not all k, that near: search them all
        if partial.any():
            idx[partial] = self._tree.query(points[partial], k=k)[1]
        idx = torch.from_numpy(idx.astype(np.int64))
        found = idx[:, 0] < count
        values = torch.full(query.shape[:1], self.max_distance_m, dtype=query.dtype)  # no cloud point that near
        values[found] = self._signed(query[found], idx[found])
        return values

    def _signed(self, query: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Query points (Q, 3) and the indices (Q, k) of their k nearest cloud points, nearest first -> (Q,)."""
        offset = query[:, None] - self.points[idx]  # (Q, k, 3)
        dist = torch.linalg.vector_norm(offset, dim=-1)  # (Q, k)
        planes = (offset * self.normals[idx]).sum(-1)  # (Q, k)
        weights = torch.softmax(-(dist / self.bandwidth_m).square(), dim=-1)  # stable where every weight underflows
        signed = (weights * planes).sum(-1)
        if self.max_distance_m is not None:
            nearest = dist[:, 0]
            signed = torch.where(nearest < self.max_distance_m, signed, nearest)
        return signed
