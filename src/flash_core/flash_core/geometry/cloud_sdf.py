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

Clouds without normals get them from `estimate_normals` (local PCA, oriented away from the cloud's centroid).
"""

from __future__ import annotations

import torch

from flash_core.geometry.checks import check_points
from flash_core.geometry.neighbors import knn

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

    def __call__(self, query: torch.Tensor) -> torch.Tensor:
        check_points(query, "query points")
        batch, count, _ = query.shape
        flat = query.reshape(1, batch * count, 3)  # one neighbour search for the whole batch
        near = knn(flat, self.points[None], self.neighbors)
        idx, dist = near.idx[0], near.dist_m[0]  # (B * N, k)
        planes = ((flat[0, :, None] - self.points[idx]) * self.normals[idx]).sum(-1)  # (B * N, k)
        weights = torch.softmax(-(dist / self.bandwidth_m).square(), dim=-1)  # stable where every weight underflows
        signed = (weights * planes).sum(-1)
        if self.max_distance_m is not None:
            nearest = dist[:, 0]
            signed = torch.where(nearest < self.max_distance_m, signed, nearest)
        return signed.reshape(batch, count)
