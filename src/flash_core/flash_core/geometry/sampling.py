"""Farthest point sampling (FPS): pick M of N points, each the farthest from those already picked.

Deterministic: sampling starts at `start_index` (default 0) and ties go to the lowest index, so the
same cloud always gives the same indices. Two exact backends give identical results:

- ``"fpsample"``: the `fpsample` package's compiled loop, ~2x faster than torch on a 2-core CPU;
- ``"torch"``: a loop over M with vectorised distance updates, runs on any device (CUDA included).

``"auto"`` uses fpsample for CPU tensors when it is installed, torch otherwise.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from flash_core.geometry.checks import check_points

FPSBackend = Literal["auto", "torch", "fpsample"]


def farthest_point_sample(
    points: torch.Tensor, num_samples: int, start_index: int = 0, backend: FPSBackend = "auto"
) -> torch.Tensor:
    """Indices of `num_samples` farthest points per batch element.

    points: (B, N, 3). Returns (B, M) int64 on the points' device; column 0 is `start_index`.
    """
    check_points(points)
    num_points = points.shape[1]
    if not 0 < num_samples <= num_points:
        raise ValueError(
            f"num_samples must be in [1, {num_points}] for clouds of {num_points} points, got {num_samples}"
        )
    if not 0 <= start_index < num_points:
        raise ValueError(f"start_index {start_index} is outside [0, {num_points})")
    if backend == "auto":
        backend = "fpsample" if points.device.type == "cpu" and _fpsample_installed() else "torch"
    if backend == "fpsample":
        return _fps_fpsample(points, num_samples, start_index)
    if backend == "torch":
        return _fps_torch(points, num_samples, start_index)
    raise ValueError(f"unknown FPS backend {backend!r}; choose 'auto', 'torch' or 'fpsample'")


def _fpsample_installed() -> bool:
    try:
        import fpsample  # noqa: F401
    except ImportError:
        return False
    return True


@torch.no_grad()
def _fps_torch(points: torch.Tensor, num_samples: int, start_index: int) -> torch.Tensor:
    batch, num_points, _ = points.shape
    coords = points.detach().transpose(1, 2).contiguous()  # (B, 3, N): contiguous rows make the update cheap
    picked = torch.empty(batch, num_samples, dtype=torch.long, device=points.device)
    min_sq_dist = torch.full((batch, num_points), float("inf"), dtype=points.dtype, device=points.device)
    farthest = torch.full((batch,), start_index, dtype=torch.long, device=points.device)
    rows = torch.arange(batch, device=points.device)
    for i in range(num_samples):
        picked[:, i] = farthest
        newest = points[rows, farthest].unsqueeze(-1)  # (B, 3, 1)
        torch.minimum(min_sq_dist, (coords - newest).square_().sum(1), out=min_sq_dist)
        farthest = min_sq_dist.argmax(dim=-1)  # first index among ties, like fpsample
    return picked


def _fps_fpsample(points: torch.Tensor, num_samples: int, start_index: int) -> torch.Tensor:
    import fpsample

    clouds = points.detach().to("cpu", torch.float32).numpy()
    picked = np.stack([fpsample.fps_sampling(cloud, num_samples, start_idx=start_index) for cloud in clouds])
    return torch.from_numpy(picked.astype(np.int64)).to(points.device)
