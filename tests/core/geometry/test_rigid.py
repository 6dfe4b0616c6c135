"""geometry.rigid against scipy's Rotation and numpy's general inverse."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from flash_core.geometry.rigid import (
    check_transform,
    interpolate_transform,
    invert_transform,
    rotate_vectors,
    transform_from_quaternion,
    transform_points,
    transform_to_quaternion,
)


def _random_transform(rng) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    out[:3, 3] = rng.normal(size=3)
    return out


def test_quaternion_round_trip_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        quaternion = Rotation.random(random_state=rng).as_quat()  # (x, y, z, w)
        translation = rng.normal(size=3)
        matrix = transform_from_quaternion(translation, 3.0 * quaternion)  # any norm is accepted
        np.testing.assert_allclose(matrix[:3, :3], Rotation.from_quat(quaternion).as_matrix(), atol=1e-12)
        back_t, back_q = transform_to_quaternion(matrix)
        np.testing.assert_allclose(back_t, translation)
        assert back_q[3] >= 0
        np.testing.assert_allclose(back_q, quaternion * np.sign(quaternion[3]), atol=1e-12)


def test_inverse_points_and_vectors():
    rng = np.random.default_rng(1)
    a, b = _random_transform(rng), _random_transform(rng)
    np.testing.assert_allclose(invert_transform(a), np.linalg.inv(a), atol=1e-12)
    points = rng.normal(size=(5, 3))
    homogeneous = np.c_[points, np.ones(5)] @ (a @ b).T
    np.testing.assert_allclose(transform_points(a, transform_points(b, points)), homogeneous[:, :3], atol=1e-12)
    np.testing.assert_allclose(rotate_vectors(a, points), points @ a[:3, :3].T)


def test_interpolation_about_one_axis_is_linear_in_angle():
    start, end = np.eye(4), np.eye(4)
    start[:3, :3] = Rotation.from_euler("z", 0.2).as_matrix()
    end[:3, :3] = Rotation.from_euler("z", 1.4).as_matrix()
    end[:3, 3] = (1.0, -2.0, 4.0)
    middle = interpolate_transform(start, end, 0.25)
    np.testing.assert_allclose(middle[:3, :3], Rotation.from_euler("z", 0.5).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(middle[:3, 3], (0.25, -0.5, 1.0))


def test_interpolation_matches_scipy_slerp_for_random_rotations():
    rng = np.random.default_rng(2)
    for _ in range(20):
        start, end = _random_transform(rng), _random_transform(rng)
        fraction = rng.uniform()
        expected = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack((start[:3, :3], end[:3, :3]))))(fraction)
        np.testing.assert_allclose(interpolate_transform(start, end, fraction)[:3, :3], expected.as_matrix(),
                                   atol=1e-9)


@pytest.mark.parametrize("matrix, words", [
    (np.eye(3), "shape"),
    (np.full((4, 4), np.nan), "non-finite"),
    (np.diag([1.0, 1.0, -1.0, 1.0]), "proper rotation"),
    (np.diag([2.0, 1.0, 1.0, 1.0]), "proper rotation"),
    (np.vstack([np.eye(4)[:3], [0, 0, 1, 1]]), "bottom row"),
])
def test_bad_transforms_are_named(matrix, words):
    with pytest.raises(ValueError, match=words):
        check_transform(matrix, "camera mount")


def test_bad_quaternion_is_named():
    with pytest.raises(ValueError, match="quaternion"):
        transform_from_quaternion([0, 0, 0], [0, 0, 0, 0])
    with pytest.raises(ValueError, match="translation"):
        transform_from_quaternion([0, np.nan, 0], [0, 0, 0, 1])
