"""Rotation conversions in torch: 6D, rotation matrices, unit quaternions and axis-angle.

All functions work on any leading batch shape `...`, in float32 or float64, on CPU or CUDA, and are
differentiable (also at the identity, where the naive axis-angle formulas divide by zero).

Conventions (one place for the whole project):
- A rotation matrix `R` (..., 3, 3) maps vectors of the child frame into the parent frame: v_parent = R @ v_child.
- The 6D representation (Zhou et al., CVPR 2019) is the first two COLUMNS of R, stored column after column:
  rot6d = [R[:, 0], R[:, 1]] = [R00, R10, R20, R01, R11, R21]. This equals DexGraspNet's `R[:, :2].T.ravel()`.
  Back to a matrix by Gram-Schmidt: b1 = a1/|a1|, b2 = normalised part of a2 orthogonal to b1, b3 = b1 x b2.
- Quaternions are (w, x, y, z), scalar first (MuJoCo's order; scipy's default is scalar last). Outputs are
  canonicalised to w >= 0.
- Axis-angle is the rotation vector angle * unit_axis (..., 3), angle in [0, pi].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Below this squared angle (rad^2) the Taylor expansions replace sin(t)/t-type ratios, whose float
# evaluation loses all digits and whose gradient is NaN at exactly zero.
_SMALL_ANGLE_SQ = 1e-6


def _check_last(t: torch.Tensor, shape: tuple[int, ...], what: str) -> None:
    if t.shape[-len(shape):] != shape:
        raise ValueError(f"{what} must have shape (..., {', '.join(map(str, shape))}), got {tuple(t.shape)}")


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) first two columns of R -> (..., 3, 3) rotation matrix via Gram-Schmidt."""
    _check_last(rot6d, (6,), "rot6d")
    a1, a2 = rot6d[..., :3], rot6d[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)  # columns


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6) = [R[:, 0], R[:, 1]]."""
    _check_last(matrix, (3, 3), "rotation matrix")
    return torch.cat((matrix[..., :, 0], matrix[..., :, 1]), dim=-1)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (w, x, y, z), normalised here -> (..., 3, 3)."""
    _check_last(quaternion, (4,), "quaternion")
    w, x, y, z = F.normalize(quaternion, dim=-1).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).unflatten(-1, (3, 3))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternion (w, x, y, z) with w >= 0.

    Of the four algebraically equal formulas (each dividing by one quaternion component) the one with the
    largest divisor is used, so the result is accurate for every rotation including 180-degree turns.
    """
    _check_last(matrix, (3, 3), "rotation matrix")
    m = matrix.flatten(-2)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    # 4 * component^2 for w, x, y, z.
    four_sq = torch.stack((
        1 + m00 + m11 + m22,
        1 + m00 - m11 - m22,
        1 - m00 + m11 - m22,
        1 - m00 - m11 + m22,
    ), dim=-1)
    two_abs = torch.sqrt(four_sq.clamp_min(1e-12))  # (..., 4) = 2|q_i|
    candidates = torch.stack((
        torch.stack((four_sq[..., 0], m21 - m12, m02 - m20, m10 - m01), dim=-1),
        torch.stack((m21 - m12, four_sq[..., 1], m10 + m01, m02 + m20), dim=-1),
        torch.stack((m02 - m20, m10 + m01, four_sq[..., 2], m12 + m21), dim=-1),
        torch.stack((m10 - m01, m20 + m02, m21 + m12, four_sq[..., 3]), dim=-1),
    ), dim=-2) / (2 * two_abs[..., :, None])  # (..., 4 candidates, 4)
    best = four_sq.argmax(dim=-1, keepdim=True)[..., None].expand(*four_sq.shape[:-1], 1, 4)
    q = F.normalize(candidates.gather(-2, best).squeeze(-2), dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vector -> (..., 3, 3) by Rodrigues' formula R = I + A K + B K^2."""
    _check_last(axis_angle, (3,), "axis-angle")
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    a = torch.where(small, 1 - theta_sq / 6, torch.sin(theta) / theta)  # sin(t)/t
    b = torch.where(small, 0.5 - theta_sq / 24, (1 - torch.cos(theta)) / torch.where(small, 1, theta_sq))
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).unflatten(-1, (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (w, x, y, z) -> (..., 3) rotation vector with angle in [0, pi]."""
    _check_last(quaternion, (4,), "quaternion")
    q = F.normalize(quaternion, dim=-1)
    q = torch.where(q[..., :1] < 0, -q, q)
    w, v = q[..., 0], q[..., 1:]
    sin_half_sq = (v * v).sum(-1)
    small = sin_half_sq < _SMALL_ANGLE_SQ
    # Each branch gets safe inputs where it is not used: torch.where would otherwise route 0 * inf = NaN
    # into the gradient.
    sin_half = torch.sqrt(torch.where(small, torch.ones_like(sin_half_sq), sin_half_sq))
    w_small = torch.where(small, w, torch.ones_like(w))
    # angle / sin(angle/2); near zero angle = 2 sin_half / w (1 + sin_half^2 / (3 w^2)) to second order.
    scale = torch.where(
        small,
        2 / w_small * (1 + sin_half_sq / (3 * w_small * w_small)),
        2 * torch.atan2(sin_half, w) / sin_half,
    )
    return scale[..., None] * v


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vector -> (..., 4) quaternion (w, x, y, z)."""
    _check_last(axis_angle, (3,), "axis-angle")
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    sin_half_over_theta = torch.where(small, 0.5 - theta_sq / 48, torch.sin(theta / 2) / theta)
    w = torch.where(small, 1 - theta_sq / 8, torch.cos(theta / 2))
    q = torch.cat((w[..., None], sin_half_over_theta[..., None] * axis_angle), dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) rotation vector (through the quaternion, which is stable near 0 and pi)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smallest rotation taking unit vector a (3,) onto each unit vector b (B, 3): (B, 3, 3)."""
    a = a.expand_as(b)
    axis = torch.linalg.cross(a, b, dim=-1)
    cos = (a * b).sum(-1).clamp(-1.0, 1.0)
    sin = axis.norm(dim=-1)
    # Antiparallel vectors have no unique axis: any axis orthogonal to a gives a half turn.
    fallback = torch.linalg.cross(a, torch.eye(3, dtype=a.dtype, device=a.device)[a[0].abs().argmin()].expand_as(a))
    axis = torch.where((sin < 1e-8)[:, None], fallback, axis)
    return axis_angle_to_matrix(F.normalize(axis, dim=-1) * torch.atan2(sin, cos)[:, None])


def make_transform(rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation and (..., 3) translation -> (..., 4, 4) homogeneous transform."""
    _check_last(rotation, (3, 3), "rotation matrix")
    _check_last(translation, (3,), "translation")
    top = torch.cat((rotation, translation[..., :, None]), dim=-1)  # (..., 3, 4)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1
    return torch.cat((top, bottom), dim=-2)


def yaw_matrix(angle_rad: torch.Tensor) -> torch.Tensor:
    """(...,) angles -> (..., 3, 3) rotations about z (the up axis of object frames and of the robot base)."""
    zero = torch.zeros_like(angle_rad)
    return axis_angle_to_matrix(torch.stack((zero, zero, angle_rad), -1))


def rotate_hand_states(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Hand states x (..., 9 + J) = [wrist translation (3), wrist rot6d (6), joints] expressed in a frame F, turned
    by rotation (..., 3, 3) about F's origin: the same hands on an object turned the same way. Joints unchanged."""
    _check_last(rotation, (3, 3), "rotation matrix")
    translation = (rotation @ x[..., :3, None])[..., 0]
    wrist = matrix_to_rot6d(rotation @ rot6d_to_matrix(x[..., 3:9]))
    return torch.cat((translation, wrist, x[..., 9:]), dim=-1)
