"""Batch optimisation of hand poses against an object's SDF: the refinement step of FLASH-Drive.

Two stages: most steps read the object's SDF grid (trilinear, milliseconds for 32k points), a short polish
reads the exact mesh SDF near the surface (warp; ~10x slower on CPU, but exact at the 2 mm acceptance scale, where
the grid's error bound is a good part of a millimetre) and the grid elsewhere (`ExactNearSurface`).

Adam on the 25-D x (`flash_core.hands.pose_optimizer`: a step size per translation, rotation and joints,
joints clamped into their limits after every step); each hand is optimised on its own. For refinement of
existing grasps a quadratic prior keeps x near its start, which keeps the grasp's meaning (the part it holds,
the fingers it uses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from flash_core.geometry.sampling import farthest_point_sample
from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid
from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose_optimizer import optimize_poses
from flash_training.data.grasp_energy import EnergyWeights, grasp_energy, measure_grasps

SHARP_EDGE_RAD = np.radians(30.0)


@dataclass(frozen=True)
class OptimizerConfig:
    steps: int = 150  # on the SDF grid when one is given, else on the exact SDF
    polish_steps: int = 8  # then on the exact SDF (near the surface; see ExactNearSurface)
    lr_translation_m: float = 2e-3
    lr_rotation: float = 1e-2
    lr_joints_rad: float = 3e-2
    prior_weight: float = 0.0  # pull towards the starting x (refinement); 0 for synthesis
    clearance_m: float = 0.001  # keep hand points this far out while optimising (absorbs grid error)
    object_points: int = 1024  # object surface samples for the object-in-hand penetration term
    part_weight: float = 30.0  # pull of the fingers towards the target part's points, when a target is given
    weights: EnergyWeights = field(default_factory=EnergyWeights)


@dataclass(frozen=True)
class ExactNearSurface:
    """An object's signed distance for the polish steps: exact where the grid puts a point within `band_m` of the
    surface (its error bound plus the clearance), the grid's value elsewhere, where the sign is right and the error
    only scales a penalty. A LEAP unit's collision points (56 x 2,700) cost 1.8 s per all-exact step (the winding
    number's sign), a fraction of that here. points (B, N, 3) -> (B, N), differentiable."""

    exact: MeshSDF
    grid: SDFGrid
    band_m: float

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        value = self.grid(points)
        near = value.detach().abs() < self.band_m
        if near.any():
            value = value.masked_scatter(near, self.exact(points[near][None])[0])
        return value


def surface_samples(sdf: MeshSDF, count: int, seed: int = 0) -> torch.Tensor:
    """(up to 2 count, 3) points on the mesh of `sdf`: `count` area-uniform samples and up to `count` vertices of its
    sharp edges (faces meeting at more than SHARP_EDGE_RAD; spread by farthest point sampling), the rims and
    corners a thin feature would slip between area samples on."""
    import trimesh

    mesh = trimesh.Trimesh(sdf.vertices.numpy(), sdf.faces.numpy(), process=False)
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    sharp = mesh.vertices[np.unique(mesh.face_adjacency_edges[mesh.face_adjacency_angles > SHARP_EDGE_RAD])]
    if len(sharp) > count:
        sharp = sharp[farthest_point_sample(torch.as_tensor(sharp)[None], count)[0].numpy()]
    return torch.as_tensor(np.concatenate([points, sharp]))


def optimize_grasps(
    hand: HandModel,
    x_init: torch.Tensor,
    sdf: MeshSDF,
    config: OptimizerConfig,
    grid: SDFGrid | None = None,
    target_points: torch.Tensor | None = None,
    target_mask: torch.Tensor | None = None,
    progress=None,
) -> torch.Tensor:
    """x_init (B, 25) -> optimised x (B, 25) on the same device and dtype; `progress(step)` is called per step.

    With `grid`, `config.steps` steps use it and `config.polish_steps` steps the exact `sdf`; without, all
    steps use `sdf`. target_points (P, 3) with target_mask (B, P): the surface points each hand should hold
    (e.g. one part's); each finger's closest candidate is pulled towards its nearest allowed target point.
    """
    hand.validate_pose(x_init)
    start = x_init.detach()
    object_points = surface_samples(sdf, config.object_points).to(dtype=hand.dtype, device=hand.device)
    grid_error = grid.max_error_m if grid is not None else 0.0
    polish = sdf if grid is None else ExactNearSurface(sdf, grid, grid_error + config.clearance_m)
    stages = [grid] * config.steps + [polish] * config.polish_steps if grid is not None else [sdf] * (
        config.steps + config.polish_steps)

    def energy(step: int, x: torch.Tensor) -> torch.Tensor:
        measures = measure_grasps(hand, x, stages[step], object_points, config.clearance_m, grid_error)
        total = grasp_energy(measures, config.weights)
        if target_points is not None:
            distance = torch.cdist(measures.finger_point, target_points[None].expand(len(x), -1, -1))  # (B, F, P)
            to_part = distance.masked_fill(~target_mask[:, None, :], torch.inf).amin(-1)  # (B, F)
            total = total + config.part_weight * to_part.sum(-1)
        if config.prior_weight:
            total = total + config.prior_weight * (x - start).square().sum(-1)
        return total

    lrs = (config.lr_translation_m, config.lr_rotation, config.lr_joints_rad)
    return optimize_poses(hand, start, energy, len(stages), lrs, progress=progress)


# prior_weight: on 128 perturbed grasps (benchmarks/grasp_import.py) 1000 kept 83 and 300 kept 107 (117 passed
# before the perturbation); the weaker pull lets the fingers find the surface again.
REFINE_CONFIG = OptimizerConfig(
    steps=60, polish_steps=10, lr_translation_m=1e-3, lr_rotation=5e-3, lr_joints_rad=1e-2, prior_weight=300.0
)


def refine_grasps(
    hand: HandModel, x: torch.Tensor, sdf: MeshSDF, grid: SDFGrid | None = None, config: OptimizerConfig = REFINE_CONFIG
) -> torch.Tensor:
    """Refine existing grasps (B, 25): remove penetration, close the fingers onto the surface, stay near x."""
    return optimize_grasps(hand, x, sdf, config, grid)
