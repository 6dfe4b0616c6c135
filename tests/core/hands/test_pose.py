"""The 25-D hand parameter convention and its conversions (DexGraspNet layout, LEAP motor space)."""

import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from flash_core.hands import pose


def _poses(batch=6, seed=0):
    rotation = torch.as_tensor(Rotation.random(batch, random_state=seed).as_matrix())
    translation = torch.randn(batch, 3, dtype=torch.float64)
    joints = torch.randn(batch, 16, dtype=torch.float64)
    return rotation, translation, joints


def test_layout_split_join_and_matrix_round_trip():
    rotation, translation, joints = _poses()
    wrist = torch.eye(4, dtype=torch.float64).repeat(6, 1, 1)
    wrist[:, :3, :3], wrist[:, :3, 3] = rotation, translation
    x = pose.pose_from_matrix(wrist, joints)
    assert x.shape == (6, pose.POSE_DIM) == (6, 25)
    t, rot6d, q = pose.split_pose(x)
    torch.testing.assert_close(t, translation)
    torch.testing.assert_close(rot6d, torch.cat([rotation[:, :, 0], rotation[:, :, 1]], dim=1))
    torch.testing.assert_close(q, joints)
    torch.testing.assert_close(pose.join_pose(t, rot6d, q), x)
    torch.testing.assert_close(pose.wrist_matrix(x), wrist)


def test_dexgraspnet_layout_and_round_trip():
    rotation, translation, joints = _poses(seed=4)
    # DexGraspNet writes rot6d = R[:, :2].T.ravel(); build its vector the way it does, in numpy.
    dexgraspnet = torch.as_tensor(np.stack([
        np.concatenate([t, r[:, :2].T.ravel(), q]) for t, r, q in zip(translation.numpy(), rotation.numpy(),
                                                                      joints.numpy())
    ]))
    x = pose.from_dexgraspnet(dexgraspnet)
    torch.testing.assert_close(pose.wrist_matrix(x)[:, :3, :3], rotation)
    torch.testing.assert_close(x, dexgraspnet)
    torch.testing.assert_close(pose.to_dexgraspnet(x), dexgraspnet)


def test_dexgraspnet_symmetric_orthogonalisation_of_noisy_6d():
    rotation, translation, joints = _poses(seed=5)
    x = pose.pose_from_matrix(torch.eye(4, dtype=torch.float64).repeat(6, 1, 1), joints)
    x[:, 3:9] = torch.cat([rotation[:, :, 0], rotation[:, :, 1]], dim=1)
    noisy = x.clone()
    noisy[:, 3:9] += 0.01 * torch.randn(6, 6, dtype=torch.float64)
    recovered = pose.wrist_matrix(pose.from_dexgraspnet(noisy))[:, :3, :3]
    # A proper rotation, close to the one the noise was added to; both columns are treated alike, so the
    # first column is NOT kept exactly (unlike Gram-Schmidt).
    eye = torch.eye(3, dtype=torch.float64).expand(6, 3, 3)
    torch.testing.assert_close(recovered.transpose(1, 2) @ recovered, eye)
    assert (recovered - rotation).abs().max() < 0.05
    # For orthonormal columns it agrees with Gram-Schmidt.
    torch.testing.assert_close(pose.from_dexgraspnet(x), x)


def test_leap_motor_space_and_allegro_correspondence():
    open_joints = torch.zeros(16)
    torch.testing.assert_close(pose.leap_joints_to_motor(open_joints), torch.full((16,), math.pi))
    q = torch.randn(3, 16)
    torch.testing.assert_close(pose.leap_motor_to_joints(pose.leap_joints_to_motor(q)), q)
    torch.testing.assert_close(pose.allegro_to_leap_joints(q), q)
    assert pose.FINGER_JOINT_INDICES["thumb"] == (12, 13, 14, 15)
