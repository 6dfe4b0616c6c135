"""Rotation conversions against scipy.spatial.transform.Rotation (an independent implementation)."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from flash_core.geometry import rotations as rot


def _random_rotations(n: int, seed: int = 0) -> Rotation:
    random = Rotation.random(n, random_state=seed)
    # Edge cases that break naive formulas: identity, tiny angles, exactly 180 degrees about each axis.
    special = Rotation.from_rotvec(
        [[0, 0, 0], [1e-9, 0, 0], [0, 1e-5, 2e-5], [np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi],
         [np.pi / np.sqrt(2), np.pi / np.sqrt(2), 0]]
    )
    return Rotation.concatenate([random, special])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matrix_quaternion_axis_angle_match_scipy(dtype):
    r = _random_rotations(200)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    matrix = torch.as_tensor(r.as_matrix(), dtype=dtype)
    quat_wxyz = torch.as_tensor(r.as_quat(scalar_first=True), dtype=dtype)
    rotvec = torch.as_tensor(r.as_rotvec(), dtype=dtype)

    torch.testing.assert_close(rot.quaternion_to_matrix(quat_wxyz), matrix, atol=tol, rtol=0)
    torch.testing.assert_close(rot.axis_angle_to_matrix(rotvec), matrix, atol=tol, rtol=0)
    # Quaternions are equal up to sign; ours are canonical w >= 0.
    q = rot.matrix_to_quaternion(matrix)
    torch.testing.assert_close(q.abs(), quat_wxyz.abs(), atol=tol * 10, rtol=0)
    assert (q[:, 0] >= 0).all()
    torch.testing.assert_close(rot.quaternion_to_matrix(q), matrix, atol=tol, rtol=0)
    q_from_vec = rot.axis_angle_to_quaternion(rotvec)
    torch.testing.assert_close(q_from_vec.abs(), quat_wxyz.abs(), atol=tol, rtol=0)
    torch.testing.assert_close(rot.quaternion_to_matrix(q_from_vec), matrix, atol=tol, rtol=0)
    # Rotation vectors: away from 180 degrees they are unique, at 180 degrees compare as matrices.
    back = rot.matrix_to_axis_angle(matrix)
    torch.testing.assert_close(rot.axis_angle_to_matrix(back), matrix, atol=tol * 10, rtol=0)
    below_pi = torch.as_tensor(r.magnitude() < np.pi - 1e-3)
    torch.testing.assert_close(back[below_pi], rotvec[below_pi], atol=tol * 10, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rot6d_is_first_two_columns_and_round_trips(dtype):
    matrix = torch.as_tensor(_random_rotations(100, seed=1).as_matrix(), dtype=dtype)
    rot6d = rot.matrix_to_rot6d(matrix)
    # DexGraspNet's layout: R[:, :2].T.ravel()
    expected = torch.stack([m[:, :2].T.reshape(-1) for m in matrix])
    torch.testing.assert_close(rot6d, expected)
    torch.testing.assert_close(rot.rot6d_to_matrix(rot6d), matrix, atol=1e-6 if dtype == torch.float32 else 1e-12,
                               rtol=0)


def test_rot6d_gram_schmidt_gives_a_rotation_from_any_input():
    raw = torch.randn(7, 5, 6, dtype=torch.float64)
    matrix = rot.rot6d_to_matrix(raw)
    assert matrix.shape == (7, 5, 3, 3)
    eye = torch.eye(3, dtype=torch.float64).expand_as(matrix)
    torch.testing.assert_close(matrix.transpose(-1, -2) @ matrix, eye)
    torch.testing.assert_close(torch.linalg.det(matrix), torch.ones(7, 5, dtype=torch.float64))
    # The first column keeps the direction of the first 3-vector.
    torch.testing.assert_close(matrix[..., :, 0], raw[..., :3] / raw[..., :3].norm(dim=-1, keepdim=True))


def test_gradients_are_finite_at_identity_and_half_turn():
    for rotvec in ([0.0, 0.0, 0.0], [np.pi, 0.0, 0.0]):
        v = torch.tensor([rotvec], dtype=torch.float64, requires_grad=True)
        rot.matrix_to_axis_angle(rot.axis_angle_to_matrix(v)).sum().backward()
        assert torch.isfinite(v.grad).all(), rotvec
    q = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    rot.quaternion_to_axis_angle(q).sum().backward()
    assert torch.isfinite(q.grad).all()


def test_gradcheck_float64():
    v = (torch.randn(4, 3, dtype=torch.float64) * 0.8).requires_grad_()
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (v,))
    assert torch.autograd.gradcheck(rot.matrix_to_axis_angle, (rot.axis_angle_to_matrix(v).detach().requires_grad_(),))
    d6 = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot.rot6d_to_matrix, (d6,))
    q = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot.quaternion_to_matrix, (q,))
    assert torch.autograd.gradcheck(rot.quaternion_to_axis_angle, (q,))
    small = (torch.randn(3, 3, dtype=torch.float64) * 1e-4).requires_grad_()
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (small,))


def test_make_transform_and_bad_shapes():
    r = torch.as_tensor(Rotation.random(3, random_state=2).as_matrix())
    t = torch.randn(3, 3, dtype=torch.float64)
    T = rot.make_transform(r, t)
    assert T.shape == (3, 4, 4)
    torch.testing.assert_close(T[:, :3, :3], r)
    torch.testing.assert_close(T[:, :3, 3], t)
    torch.testing.assert_close(T[:, 3], torch.tensor([0, 0, 0, 1.0], dtype=torch.float64).expand(3, 4))
    with pytest.raises(ValueError, match="rot6d"):
        rot.rot6d_to_matrix(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="quaternion"):
        rot.quaternion_to_matrix(torch.zeros(3))


def test_rotation_between_maps_vectors_including_antiparallel():
    a = torch.tensor([0.0, 0.0, 1.0])
    b = torch.nn.functional.normalize(torch.tensor([[1.0, 2.0, -0.5], [0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]), dim=-1)
    rotation = rot.rotation_between(a, b)
    torch.testing.assert_close(rotation @ a, b, atol=1e-6, rtol=0)
    torch.testing.assert_close(rotation @ rotation.transpose(1, 2), torch.eye(3).expand(3, -1, -1), atol=1e-6, rtol=0)


def test_yaw_matrix_matches_scipy_and_turning_hand_states_turns_the_hand():
    from flash_core.hands import make_hand

    angles = torch.tensor([0.0, 0.3, -2.0, np.pi], dtype=torch.float64)
    expected = Rotation.from_euler("z", angles.numpy()[:, None]).as_matrix()
    torch.testing.assert_close(rot.yaw_matrix(angles), torch.as_tensor(expected), atol=1e-12, rtol=0)

    hand = make_hand("leap", dtype=torch.float64)
    x = hand.open_pose(4).double()
    x[:, :3] = torch.tensor([[0.1, -0.05, 0.2], [0.0, 0.1, 0.0], [-0.2, 0.0, 0.05], [0.03, 0.02, -0.1]])
    x[:, 3:9] = rot.matrix_to_rot6d(torch.as_tensor(Rotation.random(4, random_state=1).as_matrix()))
    x[:, 9:] += 0.3
    turned = rot.rotate_hand_states(x, rot.yaw_matrix(angles))
    points, points_turned = hand.surface_points(x), hand.surface_points(turned)  # (4, M, 3)
    torch.testing.assert_close(points_turned, points @ rot.yaw_matrix(angles).transpose(-1, -2), atol=1e-9, rtol=0)
    torch.testing.assert_close(turned[:, 9:], x[:, 9:])
