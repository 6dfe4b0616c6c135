"""Grasp synthesis from scratch for objects without grasps (DexGraspNet-style energy, see grasp_energy.py).

Initialisation: pick a target point on the object (optionally on one part, so that part-specific text such
as "hold the handle" becomes true), put the hand's grasp centre a gap above it along the surface normal with
the palm facing the surface, roll it randomly about the normal and open the fingers to the pre-grasp pose.
The hand's palm direction and grasp centre are read off its own kinematics (where the fingertips go when the
fingers close), so nothing here is specific to one hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from flash_core.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d, rotation_between
from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid
from flash_core.hands.hand_model import HandModel, PalmFrame
from flash_core.hands.pose import join_pose
from flash_training.data.refine import OptimizerConfig, optimize_grasps


@dataclass(frozen=True)
class SynthesisConfig:
    gap_m: float = 0.02  # start distance of the grasp centre above the surface
    jitter_rad: float = 0.2  # random tilt of the approach away from the surface normal
    optimizer: OptimizerConfig = field(
        default_factory=lambda: OptimizerConfig(
            steps=100, lr_translation_m=3e-3, lr_rotation=1.5e-2, lr_joints_rad=4.5e-2
        )
    )


def initial_poses(
    hand: HandModel,
    palm: PalmFrame,
    points: torch.Tensor,
    normals: torch.Tensor,
    config: SynthesisConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """Hands (B, 25) facing the target surface points (B, 3) with outward normals (B, 3)."""
    b = len(points)
    kw = {"dtype": hand.dtype, "device": hand.device}
    tilt_axis = torch.nn.functional.normalize(torch.randn(b, 3, generator=generator, **kw), dim=-1)
    tilt_axis = torch.nn.functional.normalize(tilt_axis - (tilt_axis * normals).sum(-1, keepdim=True) * normals, dim=-1)
    tilt = torch.rand(b, 1, generator=generator, **kw) * config.jitter_rad
    approach = (axis_angle_to_matrix(tilt_axis * tilt) @ normals[..., None]).squeeze(-1)  # (B, 3) outward
    roll = (torch.rand(b, 1, generator=generator, **kw) * 2 - 1) * torch.pi
    spin = axis_angle_to_matrix(palm.normal * roll)  # (B, 3, 3) about the palm direction, hand frame
    rotation = rotation_between(palm.normal, -approach) @ spin  # palm direction -> into the object
    centre_world = points + approach * config.gap_m
    translation = centre_world - (rotation @ palm.grasp_centre_m[:, None]).squeeze(-1)
    joints = hand.pregrasp_joints().expand(b, -1)
    return join_pose(translation, matrix_to_rot6d(rotation), joints)


@dataclass
class SynthesizedGrasps:
    initial: torch.Tensor  # (B, 25) the poses the optimisation started from
    optimized: torch.Tensor  # (B, 25)


def synthesize_grasps(
    hand: HandModel,
    sdf: MeshSDF,
    points: np.ndarray,
    normals: np.ndarray,
    count: int,
    config: SynthesisConfig,
    seed: int = 0,
    target_masks: np.ndarray | None = None,
    grid: SDFGrid | None = None,
    progress=None,
) -> SynthesizedGrasps:
    """`count` optimised hand poses around an object given by its SDF and surface points (N, 3) with normals.

    target_masks (count, N) bool: per grasp, the points it should start at and hold (e.g. one part's);
    None lets every grasp use the whole surface. grid: the object's SDF grid for the cheap optimisation
    stage (see refine.optimize_grasps).
    """
    if target_masks is not None and (target_masks.shape != (count, len(points)) or not target_masks.any(1).all()):
        raise ValueError(f"target_masks must be ({count}, {len(points)}) with at least one point per grasp")
    generator = torch.Generator(device=hand.device).manual_seed(seed)
    kw = {"dtype": hand.dtype, "device": hand.device}
    allowed = (
        torch.ones(count, len(points), dtype=torch.bool, device=hand.device)
        if target_masks is None
        else torch.as_tensor(target_masks, device=hand.device)
    )
    pick = torch.multinomial(allowed.to(hand.dtype), 1, generator=generator).squeeze(1)  # (count,) uniform over allowed
    surface, outward = torch.as_tensor(points, **kw), torch.as_tensor(normals, **kw)
    x0 = initial_poses(hand, hand.palm_frame(), surface[pick], outward[pick], config, generator)
    target = (surface, allowed) if target_masks is not None else (None, None)
    return SynthesizedGrasps(x0, optimize_grasps(hand, x0, sdf, config.optimizer, grid, *target, progress))
