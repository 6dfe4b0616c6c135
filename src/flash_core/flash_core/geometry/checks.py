"""Input validation shared by the geometry kernels, so bad clouds fail early with a clear message."""

from __future__ import annotations

import torch


def check_points(
    points: torch.Tensor, name: str = "points", *, batched: bool = True, allow_empty: bool = False
) -> None:
    """Raise ValueError unless `points` is a finite float tensor of shape (B, N, 3) (or (N, 3) if not batched)."""
    if not isinstance(points, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(points).__name__}")
    expected = "(B, N, 3)" if batched else "(N, 3)"
    if points.dim() != (3 if batched else 2) or points.shape[-1] != 3:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {points.dtype}")
    if not allow_empty and points.shape[-2] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(points.shape)}): need at least one point")
    if not bool(torch.isfinite(points).all()):
        bad = int((~torch.isfinite(points)).any(dim=-1).sum())
        raise ValueError(f"{name} holds {bad} point(s) with NaN or infinite coordinates")


def check_point_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    """check_points on both clouds, then check_same_batch: the inputs of every two-cloud kernel."""
    check_points(a, names[0])
    check_points(b, names[1])
    check_same_batch(a, b, names)


def check_same_batch(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    """Raise ValueError unless two batched clouds share batch size, device and dtype."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names[0]} and {names[1]} have different batch sizes: {a.shape[0]} vs {b.shape[0]}")
    if a.device != b.device:
        raise ValueError(f"{names[0]} is on {a.device} but {names[1]} is on {b.device}")
    if a.dtype != b.dtype:
        raise ValueError(f"{names[0]} is {a.dtype} but {names[1]} is {b.dtype}")
