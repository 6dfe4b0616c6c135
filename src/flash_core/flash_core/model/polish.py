"""Physics polish: a few gradient steps on generated grasps against the object cloud (no mesh at run time).

The network's grasps can sink a few millimetres into the object or leave a finger hovering. The polish moves each
grasp x (K, 25) a little, by Adam on (`flash_core.hands.pose_optimizer`, joints kept in their limits):

    E(x) = w_pen  * sum of depths of the hand's surface points inside the cloud's surface
         + w_con  * sum over fingers that start within `attract_within_m` of their distance to the surface
         + w_self * the hand's self-penetration (collision spheres)
         + w_prior * |x - x_generated|^2   (keeps the grasp the network chose: the part, the fingers)

with the surface given by the object cloud's signed distance (`flash_core.geometry.cloud_sdf.CloudSDF`: normals
from the cloud when given, else estimated). A polished grasp replaces its generated one only when it is finite and
its deepest hand point in the cloud's SDF is not deeper than before, so the polish never makes a grasp penetrate
more by its own measure, and never returns a non-finite pose for finite input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from flash_core.geometry.cloud_sdf import CloudSDF
from flash_core.hands.hand_model import HandModel
from flash_core.hands.pose_optimizer import optimize_poses


@dataclass(frozen=True)
class PolishConfig:
    steps: int = 20
    lr_translation_m: float = 1e-3
    lr_rotation: float = 5e-3
    lr_joints_rad: float = 1e-2
    penetration_weight: float = 1.0  # per metre of summed depth (about 1,000 hand points)
    contact_weight: float = 1.0  # per metre of finger distance
    self_weight: float = 1.0
    prior_weight: float = 30.0  # per unit of |x - x_generated|^2 (rot6d and radians dominate it)
    attract_within_m: float = 0.01  # fingers this close to the surface at the start are pulled onto it
    clearance_m: float = 0.0005  # hand points are pushed this far outside (absorbs the cloud surface's noise)
    neighbors: int = 8  # cloud points in each signed-distance estimate
    max_distance_m: float = 0.03  # hand points farther than this from the cloud count as outside

    def __post_init__(self) -> None:
        if self.steps < 0 or min(self.lr_translation_m, self.lr_rotation, self.lr_joints_rad) <= 0:
            raise ValueError("steps must be >= 0 and learning rates > 0")


def cloud_sdf(points: torch.Tensor, normals: torch.Tensor | None, config: PolishConfig) -> CloudSDF:
    """The object surface the polish works against, from the cloud (P, 3) and its normals (P, 3) or None."""
    return CloudSDF(points, normals, config.neighbors, max_distance_m=config.max_distance_m)


def finger_distance(hand: HandModel, x: torch.Tensor, sdf: CloudSDF) -> torch.Tensor:
    """(B, F) distance to the surface of each finger's closest contact candidate."""
    distance = sdf(hand.contact_candidates(x)).abs()  # (B, C)
    fingers = hand.contact_finger_index
    return torch.stack([distance[:, fingers == f].amin(-1) for f in range(len(hand.finger_names))], -1)


def max_depth(hand: HandModel, x: torch.Tensor, sdf: CloudSDF) -> torch.Tensor:
    """(B,) deepest hand surface point behind the cloud's surface (m, 0 when none is)."""
    return torch.relu(-sdf(hand.surface_points(x))).amax(-1)


def polish_grasps(hand: HandModel, x: torch.Tensor, sdf: CloudSDF, config: PolishConfig | None = None) -> torch.Tensor:
    """x (B, 25) finite grasps in the cloud's frame -> polished grasps (B, 25) in the same frame."""
    config = config or PolishConfig()
    hand.validate_pose(x)
    start = x.detach()
    if config.steps == 0:
        return start.clone()
    with torch.no_grad():
        attract = finger_distance(hand, start, sdf) < config.attract_within_m  # (B, F)
        depth_before = max_depth(hand, start, sdf)

    def energy(_: int, pose: torch.Tensor) -> torch.Tensor:
        # A row the optimiser has driven to NaN (a degenerate rotation) is evaluated at its start instead, so the
        # other rows carry on; it is dropped at the end.
        pose = torch.where(torch.isfinite(pose).all(-1, keepdim=True), pose, start)
        depth = torch.relu(config.clearance_m - sdf(hand.surface_points(pose))).sum(-1)
        contact = (finger_distance(hand, pose, sdf) * attract).sum(-1)
        prior = (pose - start).square().sum(-1)
        return (config.penetration_weight * depth + config.contact_weight * contact
                + config.self_weight * hand.self_penetration(pose) + config.prior_weight * prior)

    with torch.enable_grad():
        polished = optimize_poses(hand, start, energy, config.steps,
                                  (config.lr_translation_m, config.lr_rotation, config.lr_joints_rad))
    finite = torch.isfinite(polished).all(-1)
    with torch.no_grad():
        safe = torch.where(finite[:, None], polished, start)
        better = finite & (max_depth(hand, safe, sdf) <= depth_before)
    return torch.where(better[:, None], safe, start)
