"""The probability path FLASH trains on: a straight line from the initial hand x_0 to the grasp x_1.

Time convention (used everywhere in FLASH): t = 0 is the initial (open) hand, t = 1 the grasp.
x_t = x_0 + t (x_1 - x_0), so the target velocity is the constant u = x_1 - x_0 (conditional flow matching with
sigma = 0, as in the paper's Eq. 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PathSample:
    x_0: torch.Tensor  # (B, D) start states
    x_1: torch.Tensor  # (B, D) end states (grasps)
    t: torch.Tensor  # (B,) times in [0, 1]
    x_t: torch.Tensor  # (B, D) states on the path at t
    dx_t: torch.Tensor  # (B, D) target velocity d x_t / dt


def sample_linear_path(x_0: torch.Tensor, x_1: torch.Tensor, t: torch.Tensor) -> PathSample:
    """Points on the straight path x_0 -> x_1 at times t (B,), with their velocity."""
    if x_0.shape != x_1.shape or x_0.dim() != 2:
        raise ValueError(f"x_0 and x_1 must both be (B, D); got {tuple(x_0.shape)} and {tuple(x_1.shape)}")
    if t.shape != (x_0.shape[0],):
        raise ValueError(f"t must be ({x_0.shape[0]},), got {tuple(t.shape)}")
    dx_t = x_1 - x_0
    x_t = x_0 + t[:, None] * dx_t
    return PathSample(x_0=x_0, x_1=x_1, t=t, x_t=x_t, dx_t=dx_t)
