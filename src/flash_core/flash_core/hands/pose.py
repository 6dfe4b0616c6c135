"""The hand-parameter vector x that FLASH predicts, and its conversions.

    x = [ t (3) | rot6d (6) | q (16) ]  = 25 numbers per hand, float, any device

- t: translation in metres and rot6d: rotation (`flash_core.geometry.rotations`: the first two columns of R)
  of the hand ROOT frame in the object/world frame. The root frame is the MJCF body named `root_body` in the
  hand's YAML (`palm` for LEAP and Allegro), i.e. T_world_palm = [[R, t], [0, 1]].
  LEAP: Menagerie's `palm` body frame (the official URDF's `palm_lower`). Allegro: the URDF's `base_link`.
  Axes of the root frame at the open pose (measured with the models): LEAP fingers point along +x and the
  palm (the side the fingers close towards) faces -z, tilted ~15 degrees towards -x; Allegro fingers point
  along +z and the palm faces +x (tilted ~15 degrees towards -z).
- q: joint angles in radians in the hand's FLASH joint order (`hand.joint_names`):
  LEAP: official numbering "0".."15" (index 0-3, middle 4-7, ring 8-11, thumb 12-15; per finger
  "0" MCP abduction, "1" MCP flexion, "2" PIP, "3" DIP; chain order from the palm "1" -> "0" -> "2" -> "3").
  Allegro: joint_0.0 .. joint_15.0 (index, middle, ring, thumb; per finger abduction, then three flexions).

Peer layouts:
- DexGraspNet (Allegro): hand_pose = [t, rot6d = R[:, :2].T.ravel(), q in joint_0.0..joint_15.0 order] — the
  same numbers as FLASH's x for the Allegro: its root link `base_link` is our `palm` frame (the finger joint
  origins coincide), so there is no frame offset. One difference: DexGraspNet turns its 6D back into a matrix
  with a symmetric orthogonalisation (`robust_compute_rotation_matrix_from_ortho6d`), not Gram-Schmidt; the
  two agree on orthonormal inputs, and `from_dexgraspnet` re-orthonormalises their way so slightly
  non-orthonormal stored values keep the rotation DexGraspNet meant.
- Multi-GraspSet (Multi-GraspLLM; the data FLASH refines) is not reachable from this machine, so its layout
  is NOT verified here. The FLASH paper states x = [T (3), R (6D), theta (16)] for the Allegro, i.e. the
  DexGraspNet layout; check a sample against `to_dexgraspnet` before relying on it.

LEAP <-> Allegro joints: the fingers correspond (index, middle, ring, thumb) and so do the indices 0..15
(abduction, MCP flexion, PIP, DIP; thumb 12..15), which is how the official LEAP API maps Allegro commands
(`ALLEGRO_TO_LEAP_JOINT_INDEX`). The "+pi" of that API belongs to the LEAP MOTOR space: a LEAP motor reads pi
when its joint is at 0 (the flat open hand), see `leap_joints_to_motor`.
The kinematics are not the same, only the roles: measured with the two models, LEAP "0" > 0 swings the index
towards the middle finger (a true abduction), while the Allegro's joint_0.0 turns the finger about its own
axis, which moves the tip sideways only when the finger is flexed, and towards the middle finger for
joint_0.0 < 0. Copying Allegro angles index by index (as the official API does) therefore mirrors the
sideways motion; `allegro_to_leap_joints` follows the official API and does not flip signs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from flash_core.geometry.rotations import make_transform, matrix_to_rot6d, rot6d_to_matrix

TRANSLATION_DIM = 3
ROT6D_DIM = 6
NUM_JOINTS = 16
POSE_DIM = TRANSLATION_DIM + ROT6D_DIM + NUM_JOINTS  # 25

# LEAP joint i drives the same finger and function as Allegro joint_i.0.
ALLEGRO_TO_LEAP_JOINT_INDEX = tuple(range(NUM_JOINTS))
FINGER_JOINT_INDICES = {
    "index": (0, 1, 2, 3), "middle": (4, 5, 6, 7), "ring": (8, 9, 10, 11), "thumb": (12, 13, 14, 15),
}

# LEAP hardware: motor angle (rad) = joint angle + pi; pi is the flat open hand.
LEAP_MOTOR_OFFSET_RAD = math.pi


def check_pose(x: torch.Tensor, num_joints: int = NUM_JOINTS) -> None:
    """Raise ValueError naming the problem if x is not a finite float (B, 3 + 6 + num_joints) tensor."""
    dim = TRANSLATION_DIM + ROT6D_DIM + num_joints
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"hand pose must be a torch.Tensor of shape (B, {dim}), got {type(x).__name__}")
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"hand pose must have shape (B, {dim}) = [t 3, rot6d 6, q {num_joints}], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"hand pose must be a floating tensor, got {x.dtype}")
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = torch.nonzero(bad.any(1)).flatten()[:5].tolist()
        raise ValueError(f"hand pose holds NaN or inf (rows {rows}{'...' if bad.any(1).sum() > 5 else ''})")
    first, second = x[:, 3:6], x[:, 6:9]
    if (first.norm(dim=1) < 1e-8).any():
        raise ValueError("hand pose rot6d has a zero first column: not a rotation")
    if (torch.linalg.cross(first, second, dim=1).norm(dim=1) < 1e-8 * first.norm(dim=1) * second.norm(dim=1)).any():
        raise ValueError("hand pose rot6d has parallel (or zero) columns: Gram-Schmidt cannot make a rotation")


def split_pose(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 25) -> translation (..., 3), rot6d (..., 6), joints (..., 16)."""
    rot_end = TRANSLATION_DIM + ROT6D_DIM
    return x[..., :TRANSLATION_DIM], x[..., TRANSLATION_DIM:rot_end], x[..., rot_end:]


def join_pose(translation: torch.Tensor, rot6d: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """translation (..., 3), rot6d (..., 6), joints (..., J) -> (..., 9 + J)."""
    return torch.cat((translation, rot6d, joints), dim=-1)


def wrist_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 25) -> (..., 4, 4) pose of the hand root frame in the world/object frame."""
    translation, rot6d, _ = split_pose(x)
    return make_transform(rot6d_to_matrix(rot6d), translation)


def pose_from_matrix(wrist: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) root-frame pose and (..., 16) joints -> (..., 25)."""
    return join_pose(wrist[..., :3, 3], matrix_to_rot6d(wrist[..., :3, :3]), joints)


def _dexgraspnet_ortho6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """DexGraspNet's symmetric orthogonalisation of its 6D (both columns treated alike)."""
    x = F.normalize(rot6d[..., :3], dim=-1)
    y = F.normalize(rot6d[..., 3:], dim=-1)
    middle = F.normalize(x + y, dim=-1)
    orthmid = F.normalize(x - y, dim=-1)
    x = F.normalize(middle + orthmid, dim=-1)
    y = F.normalize(middle - orthmid, dim=-1)
    z = F.normalize(torch.linalg.cross(x, y, dim=-1), dim=-1)
    return torch.stack((x, y, z), dim=-1)


def from_dexgraspnet(hand_pose: torch.Tensor) -> torch.Tensor:
    """DexGraspNet Allegro hand_pose (..., 25) -> FLASH Allegro x (..., 25). Same frame and joint order."""
    translation, rot6d, joints = split_pose(hand_pose)
    return join_pose(translation, matrix_to_rot6d(_dexgraspnet_ortho6d_to_matrix(rot6d)), joints)


def to_dexgraspnet(x: torch.Tensor) -> torch.Tensor:
    """FLASH Allegro x (..., 25) -> DexGraspNet hand_pose (..., 25), rot6d made orthonormal first."""
    translation, rot6d, joints = split_pose(x)
    return join_pose(translation, matrix_to_rot6d(rot6d_to_matrix(rot6d)), joints)


def allegro_to_leap_joints(allegro_joints: torch.Tensor) -> torch.Tensor:
    """(..., 16) Allegro joint_0.0..15.0 angles -> LEAP "0".."15" angles (same functions, rad).

    The hands' ranges differ; clamp with the LEAP model's `clamp_joints` before commanding the hand.
    """
    return allegro_joints[..., list(ALLEGRO_TO_LEAP_JOINT_INDEX)]


def leap_joints_to_motor(joints_rad: torch.Tensor) -> torch.Tensor:
    """LEAP joint angles (FLASH/official order, 0 = flat) -> Dynamixel goal angles in rad (pi = flat)."""
    return joints_rad + LEAP_MOTOR_OFFSET_RAD


def leap_motor_to_joints(motor_rad: torch.Tensor) -> torch.Tensor:
    """LEAP Dynamixel present angles in rad (pi = flat) -> joint angles (0 = flat)."""
    return motor_rad - LEAP_MOTOR_OFFSET_RAD
