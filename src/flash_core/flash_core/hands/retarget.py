"""Retargeting grasps from one hand to another (Allegro -> LEAP): the target hand is posed so that its fingers and
palm are where the source hand's were, by gradient descent on its 25-D x.

Keypoints, per hand, all from its own kinematics (`HandModel`), matched across hands by finger NAME:
- fingertip: the first contact candidate of each finger (surface.py starts each finger's farthest point sampling
  at the point farthest from the finger's base, the tip)
- pad centre: the mean of each finger's contact candidates (where the finger's inner side touches)
- palm: `palm_frame()` normal and grasp centre, carried into the world by the wrist pose

Start: the wrist pose that maps the target's palm frame onto the source's (normal onto normal, the index -> ring
direction across the palm onto its counterpart, grasp centre onto grasp centre) and the source joint angles
mapped joint for joint (`JOINT_MAPS`, e.g. `hands.pose.allegro_to_leap_joints`), clamped into the target's limits.

Objective per grasp (metres; every term 0 for a perfect match):

    E = w_tip sum_f |tip_f - tip'_f|^2 + w_pad sum_f |pad_f - pad'_f|^2
        + w_centre |c - c'|^2 + w_normal (1 - n . n') + w_self self_penetration

(primed: the source hand's, fixed). Minimised with `flash_core.hands.pose_optimizer` (Adam, a step size per
translation, rot6d and joints, joints clamped into the target's limits), the step sizes cosine-annealed so the
last steps settle below a millimetre. Grasps are independent: the energy is a sum over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from flash_core.geometry.rotations import make_transform, rot6d_to_matrix
from flash_core.hands.hand_model import HandModel, PalmFrame
from flash_core.hands.pose import allegro_to_leap_joints, pose_from_matrix, split_pose, wrist_matrix
from flash_core.hands.pose_optimizer import optimize_poses

# (source hand, target hand) -> joint map (..., J_source) -> (..., J_target): joints with the same role.
JOINT_MAPS: dict[tuple[str, str], Callable[[torch.Tensor], torch.Tensor]] = {
    ("allegro", "leap"): allegro_to_leap_joints,
}


@dataclass(frozen=True)
class RetargetConfig:
    steps: int = 300
    lr_translation_m: float = 3e-3
    lr_rotation: float = 2e-2
    lr_joints_rad: float = 4e-2
    tip_weight: float = 1.0  # per m^2
    # Pads weigh less than tips: the hands' links have other proportions, so tips and pads cannot all match.
    # On 32 random Allegro poses 0.5 left a median per-grasp residual of 1.6 mm, 0.1 one of 0.6 mm.
    pad_weight: float = 0.1  # per m^2
    palm_centre_weight: float = 0.1  # per m^2: weak, the hands differ in size
    palm_normal_weight: float = 3e-3  # per (1 - cos): 10 degrees cost as much as 7 mm of one fingertip
    # LEAP fingers are thicker than the Allegro's: where Allegro fingertips touch each other the LEAP's cannot.
    # On the 128 grasps of benchmarks/retarget.py: weight 0 matched tips best (p95 1.2 mm) but 61 poses
    # self-collided and 40 LEAP grasps were kept after refinement; 0.1: p95 3.6 mm, none collided, 72 kept.
    self_penetration_weight: float = 0.1  # per m of summed sphere overlap


@dataclass
class RetargetResult:
    x: torch.Tensor  # (B, 25) target-hand poses, rot6d orthonormal, joints within the target's limits
    x_start: torch.Tensor  # (B, 25) the palm-aligned, joint-mapped start
    fingertip_error_m: torch.Tensor  # (B, F) per shared finger (`fingers`), distance of the two hands' tips
    fingers: list[str]  # the finger names matched, in the source hand's order

    @property
    def mean_fingertip_error_mm(self) -> torch.Tensor:
        """(B,) the per-grasp residual: mean fingertip distance over the matched fingers, millimetres."""
        return self.fingertip_error_m.mean(-1) * 1000


@dataclass
class HandKeypoints:
    """Where a posed hand grasps, in the world frame."""

    tips: torch.Tensor  # (B, F, 3)
    pads: torch.Tensor  # (B, F, 3)
    palm_centre: torch.Tensor  # (B, 3)
    palm_normal: torch.Tensor  # (B, 3) unit


def _tip_index(hand: HandModel, fingers: list[str]) -> torch.Tensor:
    """(F,) index of each finger's tip among the hand's contact candidates (the first of its block)."""
    index = hand.contact_finger_index
    return torch.stack([torch.nonzero(index == hand.finger_names.index(f))[0, 0] for f in fingers])


def hand_keypoints(
    hand: HandModel, x: torch.Tensor, fingers: list[str], palm: PalmFrame | None = None
) -> HandKeypoints:
    """x (B, 25) -> keypoints of `fingers` (names) and of the palm in the world frame; differentiable.
    `palm`: the hand's `palm_frame()` when the caller already has it (it costs a forward pass)."""
    candidates = hand.contact_candidates(x)  # (B, C, 3)
    finger_ids = torch.tensor([hand.finger_names.index(f) for f in fingers], device=x.device)
    member = (hand.contact_finger_index[None, :] == finger_ids[:, None]).to(x.dtype)  # (F, C)
    pads = torch.einsum("fc,bcd->bfd", member / member.sum(1, keepdim=True), candidates)
    palm = hand.palm_frame() if palm is None else palm
    rotation = rot6d_to_matrix(split_pose(x)[1])  # (B, 3, 3)
    return HandKeypoints(
        tips=candidates[:, _tip_index(hand, fingers)],
        pads=pads,
        palm_centre=(rotation @ palm.grasp_centre_m) + split_pose(x)[0],
        palm_normal=rotation @ palm.normal,
    )


def _palm_axes(hand: HandModel) -> torch.Tensor:
    """(3, 3) an orthonormal frame in the hand's root frame: columns = across the palm (index -> ring, made
    perpendicular to the normal), normal x across, palm normal."""
    palm = hand.palm_frame()
    pads = hand_keypoints(hand, hand.open_pose(1), ["index", "ring"]).pads[0]  # (2, 3)
    across = pads[1] - pads[0]
    across = torch.nn.functional.normalize(across - (across @ palm.normal) * palm.normal, dim=0)
    return torch.stack((across, torch.linalg.cross(palm.normal, across, dim=0), palm.normal), dim=1)


def aligned_start(source: HandModel, target: HandModel, x_source: torch.Tensor) -> torch.Tensor:
    """(B, 25) source poses -> (B, 25) target poses whose palm frame coincides with the source's (axes from
    `_palm_axes`, grasp centre on grasp centre) with the joints mapped by `JOINT_MAPS` and clamped."""
    key = (source.name, target.name)
    if source.name == target.name:
        joint_map = lambda q: q  # noqa: E731 (same hand: same joints)
    elif key in JOINT_MAPS:
        joint_map = JOINT_MAPS[key]
    else:
        raise ValueError(f"no joint correspondence from hand '{source.name}' to '{target.name}'; "
                         f"known (source, target) pairs: {sorted(JOINT_MAPS)}")
    # R_world_target = R_world_source . A_source . A_target^T maps target palm axes onto the source's.
    with torch.no_grad():
        relative = _palm_axes(source) @ _palm_axes(target).T  # (3, 3)
    world_source = wrist_matrix(x_source)  # (B, 4, 4)
    rotation = world_source[:, :3, :3] @ relative
    centre = world_source[:, :3, :3] @ source.palm_frame().grasp_centre_m + world_source[:, :3, 3]
    translation = centre - rotation @ target.palm_frame().grasp_centre_m
    joints = target.clamp_joints(joint_map(split_pose(x_source)[2]))
    return pose_from_matrix(make_transform(rotation, translation), joints)


def retarget_grasps(
    source: HandModel,
    target: HandModel,
    x_source: torch.Tensor,
    config: RetargetConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> RetargetResult:
    """Source-hand grasps x_source (B, 25) -> target-hand poses matching their fingertips and palm (module
    docstring). Runs on x_source's device and dtype (both hand models must be there too); `progress(step)`
    is called per step. ValueError for NaN/ill-shaped poses, hands without common fingers, unknown hand pairs."""
    config = RetargetConfig() if config is None else config
    source.validate_pose(x_source)
    fingers = [f for f in source.finger_names if f in target.finger_names]
    if not fingers:
        raise ValueError(f"hands '{source.name}' {source.finger_names} and '{target.name}' {target.finger_names} "
                         "share no finger names: nothing to retarget onto")
    if not {"index", "ring"} <= set(source.finger_names) & set(target.finger_names):
        raise ValueError("retargeting aligns the palms by their index and ring fingers; "
                         f"'{source.name}' or '{target.name}' lacks one")
    x_start = aligned_start(source, target, x_source.detach())
    target.validate_pose(x_start)
    with torch.no_grad():
        goal = hand_keypoints(source, x_source.detach(), fingers)
    palm = target.palm_frame()

    lrs = (config.lr_translation_m, config.lr_rotation, config.lr_joints_rad)
    x = optimize_poses(
        target,
        x_start,
        lambda _, x: retarget_energy(target, x, goal, fingers, config, palm),
        config.steps,
        lrs,
        lr_scale=lambda step: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / config.steps)),  # cosine to 1 %
        progress=progress,
    )
    with torch.no_grad():
        x = pose_from_matrix(wrist_matrix(x), split_pose(x)[2])
        error = (hand_keypoints(target, x, fingers, palm).tips - goal.tips).norm(dim=-1)
    return RetargetResult(x=x, x_start=x_start, fingertip_error_m=error, fingers=fingers)


def retarget_energy(
    target: HandModel,
    x: torch.Tensor,
    goal: HandKeypoints,
    fingers: list[str],
    config: RetargetConfig,
    palm: PalmFrame | None = None,
) -> torch.Tensor:
    """(B,) the objective of the module docstring for target poses x (B, 25) against the source's keypoints."""
    now = hand_keypoints(target, x, fingers, palm)
    return (
        config.tip_weight * (now.tips - goal.tips).square().sum((-1, -2))
        + config.pad_weight * (now.pads - goal.pads).square().sum((-1, -2))
        + config.palm_centre_weight * (now.palm_centre - goal.palm_centre).square().sum(-1)
        + config.palm_normal_weight * (1 - (now.palm_normal * goal.palm_normal).sum(-1))
        + config.self_penetration_weight * target.self_penetration(x)
    )
