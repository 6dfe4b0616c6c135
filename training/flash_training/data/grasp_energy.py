"""The grasp energy shared by refinement and synthesis, after DexGraspNet (Wang et al., ICRA 2023).

Terms per hand, all (B,) tensors, differentiable w.r.t. x:
- penetration:       summed depth (m) of hand surface points inside the object (object SDF < 0)
- distance:          summed over fingers, the distance of each finger's closest contact candidate to the surface
- force_closure:     ||G c||^2 with c the inward surface normals at the fingers' closest points (DexGraspNet E_fc)
- self_penetration:  summed overlap of the hand's collision spheres
- joints:            summed excess beyond the joint limits (rad)
`measure_grasps` adds the quantities the acceptance test reads: maximum penetration and per-finger distances.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid
from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose import split_pose


@dataclass(frozen=True)
class EnergyWeights:
    """DexGraspNet's weights (dis 100, pen 100, spen 10, joints 1; fc 1)."""

    distance: float = 100.0
    penetration: float = 100.0
    self_penetration: float = 10.0
    joints: float = 1.0
    force_closure: float = 1.0


@dataclass
class GraspMeasures:
    penetration_m: torch.Tensor  # (B,) summed depth of hand surface points inside the object
    max_penetration_m: torch.Tensor  # (B,) deepest hand surface point
    finger_distance_m: torch.Tensor  # (B, F) unsigned distance of each finger's closest candidate
    finger_point: torch.Tensor  # (B, F, 3) that candidate
    finger_normal: torch.Tensor  # (B, F, 3) outward surface normal (SDF gradient) at it
    self_penetration_m: torch.Tensor  # (B,)
    joint_excess_rad: torch.Tensor  # (B,)


def measure_grasps(hand: HandModel, x: torch.Tensor, sdf: MeshSDF | SDFGrid, clearance_m: float = 0.0) -> GraspMeasures:
    """Evaluate hand poses x (B, 25) against one object's SDF (exact for metrics, a grid inside optimisation).

    clearance_m > 0 counts hand points closer than that to the surface as penetrating: inside optimisation it
    keeps a margin that absorbs the SDF grid's interpolation error. Metrics use 0.
    """
    surface = hand.surface_points(x)  # (B, N, 3)
    depth = torch.relu(clearance_m - sdf(surface))  # (B, N)
    candidates = hand.contact_candidates(x)  # (B, C, 3)
    distance = sdf(candidates)  # (B, C)
    num_fingers = len(hand.finger_names)
    per_finger = torch.full(
        (len(x), num_fingers, distance.shape[1]), torch.inf, dtype=distance.dtype, device=distance.device
    )
    per_finger[:, hand.contact_finger_index, torch.arange(distance.shape[1], device=distance.device)] = distance.abs()
    finger_distance, closest = per_finger.min(-1)  # (B, F)
    finger_point = torch.gather(candidates, 1, closest[..., None].expand(-1, -1, 3))  # (B, F, 3)
    # Normals need a graph through the points only; the closest point's SDF gradient is the outward normal.
    with torch.enable_grad():
        probe = finger_point.detach().requires_grad_(True)
        (normal,) = torch.autograd.grad(sdf(probe).sum(), probe)
    q = split_pose(x)[2]
    excess = torch.relu(q - hand.joint_upper) + torch.relu(hand.joint_lower - q)
    return GraspMeasures(
        penetration_m=depth.sum(-1),
        max_penetration_m=depth.amax(-1),
        finger_distance_m=finger_distance,
        finger_point=finger_point,
        finger_normal=torch.nn.functional.normalize(normal, dim=-1),
        self_penetration_m=hand.self_penetration(x),
        joint_excess_rad=excess.sum(-1),
    )


def force_closure_error(
    points: torch.Tensor, inward_normals: torch.Tensor, length_scale_m: float = 0.1
) -> torch.Tensor:
    """DexGraspNet's E_fc: || G c ||^2 with G = [I; [p]x] per contact and c the contact normals. (B,)

    Zero when unit forces along the normals balance in force and in torque; torques are measured in units of
    `length_scale_m` so the two parts weigh alike for hand-sized objects.
    """
    centre = points.mean(1, keepdim=True)
    force = inward_normals.sum(1)  # (B, 3)
    torque = torch.linalg.cross((points - centre) / length_scale_m, inward_normals, dim=-1).sum(1)  # (B, 3)
    return force.square().sum(-1) + torque.square().sum(-1)


def grasp_energy(measures: GraspMeasures, weights: EnergyWeights) -> torch.Tensor:
    """(B,) weighted energy; the normals are constants (no gradient through the SDF's gradient)."""
    closure = force_closure_error(measures.finger_point, -measures.finger_normal.detach())
    return (
        weights.distance * measures.finger_distance_m.sum(-1)
        + weights.penetration * measures.penetration_m
        + weights.self_penetration * measures.self_penetration_m
        + weights.joints * measures.joint_excess_rad
        + weights.force_closure * closure
    )
