"""The grasp energy shared by refinement and synthesis, after DexGraspNet (Wang et al., ICRA 2023).

Terms per hand, all (B,) tensors, differentiable w.r.t. x. Penetration and self-collision are measured on the
hand's official collision geometry (`flash_core.hands.collision`), the shapes a simulator collides:
- penetration:       summed depth (m) of points on the hand's collision surface inside the object (object SDF < 0),
                     plus summed depth of object surface points inside the hand's collision pieces (DexGraspNet's
                     E_pen; it catches thin rims and edges pushed between the hand's own samples)
- distance:          summed over fingers, the distance of each finger's closest contact candidate to the surface
- force_closure:     ||G c||^2 with c the inward surface normals at the fingers' closest points (DexGraspNet E_fc)
- self_penetration:  summed depth of collision surface points inside the pieces of other links that may touch
- joints:            summed excess beyond the joint limits (rad)
The acceptance test does not read these sums: `flash_training.assess` measures the same geometry exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from flash_core.geometry.sdf import MeshSDF
from flash_core.geometry.sdf_grid import SDFGrid
from flash_core.hands.collision import hand_collision
from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose import split_pose


@dataclass(frozen=True)
class EnergyWeights:
    """DexGraspNet's weights (pen 100, joints 1; fc 1) except two. Self-penetration 1000 (DexGraspNet: 10 on sphere
    overlaps): on 16 LEAP grasps each of a mug and a hammer, 8 of 32 optimised grasps kept a self-collision over
    2 mm in MuJoCo at 10, 2 at 300, none at 1000. Distance 300 (DexGraspNet: 100): with penetration summed over the
    collision surface and the object's points, 100 left fingers short of the surface; mini-preset synthesis on 6
    procedural objects x 2 hands x 32 candidates passed the acceptance test at 50 % with 100, 84 % with 300."""

    distance: float = 300.0
    penetration: float = 100.0
    self_penetration: float = 1000.0
    joints: float = 1.0
    force_closure: float = 1.0


@dataclass
class GraspMeasures:
    penetration_m: torch.Tensor  # (B,) summed depth of collision surface points inside the object and back
    finger_distance_m: torch.Tensor  # (B, F) unsigned distance of each finger's closest candidate
    finger_point: torch.Tensor  # (B, F, 3) that candidate
    finger_normal: torch.Tensor  # (B, F, 3) outward surface normal (SDF gradient) at it
    self_penetration_m: torch.Tensor  # (B,) summed depth of collision surface points inside other links
    joint_excess_rad: torch.Tensor  # (B,)


def finger_contacts(hand: HandModel, x: torch.Tensor, sdf: MeshSDF | SDFGrid) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, 25) -> per finger the unsigned distance (B, F) of its contact candidate (fingertip and pad points)
    closest to the object's surface, and that candidate (B, F, 3); differentiable."""
    candidates = hand.contact_candidates(x)  # (B, C, 3)
    distance = sdf(candidates)  # (B, C)
    per_finger = torch.full(
        (len(x), len(hand.finger_names), distance.shape[1]), torch.inf, dtype=distance.dtype, device=distance.device
    )
    per_finger[:, hand.contact_finger_index, torch.arange(distance.shape[1], device=distance.device)] = distance.abs()
    finger_distance, closest = per_finger.min(-1)  # (B, F)
    return finger_distance, torch.gather(candidates, 1, closest[..., None].expand(-1, -1, 3))


def measure_grasps(
    hand: HandModel,
    x: torch.Tensor,
    sdf: MeshSDF | SDFGrid,
    object_points: torch.Tensor,
    clearance_m: float = 0.0,
    sdf_error_m: float = 0.0,
) -> GraspMeasures:
    """Evaluate hand poses x (B, 25) against one object: its SDF (exact, or a grid inside optimisation, wrong by
    at most `sdf_error_m`) and points on its surface (N, 3) for the object-in-hand part of the penetration.

    clearance_m > 0 counts hand points closer than that to the surface (and object points closer than that to a
    collision piece) as penetrating: it keeps a margin that absorbs the grid's error and the sampling's gaps.
    """
    collision = hand_collision(hand)
    surface = collision.surface_points(x)  # (B, N, 3): what the simulator collides with
    depth = torch.relu(clearance_m - sdf(surface))  # (B, N)
    object_depth = collision.object_penetration(x, sdf, object_points, clearance_m, sdf_error_m)  # (B,)
    finger_distance, finger_point = finger_contacts(hand, x, sdf)
    # Normals need a graph through the points only; the closest point's SDF gradient is the outward normal.
    with torch.enable_grad():
        probe = finger_point.detach().requires_grad_(True)
        (normal,) = torch.autograd.grad(sdf(probe).sum(), probe)
    q = split_pose(x)[2]
    excess = torch.relu(q - hand.joint_upper) + torch.relu(hand.joint_lower - q)
    return GraspMeasures(
        penetration_m=depth.sum(-1) + object_depth,
        finger_distance_m=finger_distance,
        finger_point=finger_point,
        finger_normal=torch.nn.functional.normalize(normal, dim=-1),
        self_penetration_m=collision.self_penetration_sum(x),
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
