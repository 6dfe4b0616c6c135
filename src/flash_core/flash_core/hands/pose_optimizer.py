"""Gradient descent on a batch of hand poses x (B, 25): the loop that grasp refinement and retargeting share.

Adam with one parameter group each for translation, rot6d and joints (their own step sizes, since metres,
rotation components and radians move at different scales), joints clamped into the hand's limits after every
step. The energy is a sum over the batch, so grasps never influence each other.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose import join_pose, split_pose


def optimize_poses(
    hand: HandModel,
    x_start: torch.Tensor,
    energy: Callable[[int, torch.Tensor], torch.Tensor],
    steps: int,
    lrs: tuple[float, float, float],
    lr_scale: Callable[[int], float] | None = None,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """x_start (B, 25) -> x (B, 25) after `steps` Adam steps on `energy(step, x)` -> (B,).

    lrs: step sizes for (translation_m, rot6d, joints_rad); lr_scale(step) multiplies them (a schedule);
    progress(step) is called after every step. The rot6d part is returned as optimised (not re-orthonormalised).
    """
    translation, rotation, joints = (p.clone().requires_grad_(True) for p in split_pose(x_start.detach()))
    optimizer = torch.optim.Adam([{"params": [p], "lr": lr} for p, lr in zip((translation, rotation, joints), lrs)])
    for step in range(steps):
        if lr_scale is not None:
            for group, lr in zip(optimizer.param_groups, lrs):
                group["lr"] = lr * lr_scale(step)
        optimizer.zero_grad(set_to_none=True)
        energy(step, join_pose(translation, rotation, joints)).sum().backward()
        optimizer.step()
        with torch.no_grad():
            joints.copy_(hand.clamp_joints(joints))
        if progress is not None:
            progress(step)
    return join_pose(translation, rotation, joints).detach()
