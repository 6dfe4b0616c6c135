import numpy as np
import pytest
import torch

from flash_core.geometry.plane import Plane
from flash_core.geometry.support_plane import SupportPlane


def test_a_pose_with_its_z_axis_down_gives_the_same_plane_facing_up():
    up_pose = np.eye(4)
    up_pose[:3, 3] = (0.5, 0.0, 0.02)
    down_pose = up_pose.copy()
    down_pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    for pose in (up_pose, down_pose):
        plane = Plane.from_pose(pose)
        np.testing.assert_allclose(plane.normal, [0.0, 0.0, 1.0])
        assert plane.offset_m == pytest.approx(-0.02)
        np.testing.assert_allclose(plane.signed_distance_m(np.array([[0.3, 0.2, 0.05], [0.1, 0.0, 0.0]])),
                                   [0.03, -0.02])


def test_coefficients_are_scaled_to_a_unit_normal_and_turned_towards_up():
    plane = Plane.from_coefficients([0.0, 0.0, -2.0, 0.2])  # -2 z + 0.2 = 0: z = 0.1, normal down
    np.testing.assert_allclose(plane.normal, [0.0, 0.0, 1.0])
    assert plane.offset_m == pytest.approx(-0.1)
    facing_down = Plane.from_coefficients([0.0, 0.0, -2.0, 0.2], up=(0.0, 0.0, -1.0))
    np.testing.assert_allclose(facing_down.normal, [0.0, 0.0, -1.0])
    assert facing_down.offset_m == pytest.approx(0.1)
    tilted = Plane.from_coefficients([np.sin(0.3), 0.0, np.cos(0.3), 0.0])
    assert tilted.tilt_deg() == pytest.approx(np.degrees(0.3))
    np.testing.assert_allclose(tilted.project(np.array([0.0, 0.0, 1.0])) @ tilted.normal, 0.0, atol=1e-12)


@pytest.mark.parametrize("bad", [np.zeros((3, 3)), np.full((4, 4), np.nan)])
def test_a_bad_pose_is_refused(bad):
    with pytest.raises(ValueError, match="plane pose"):
        Plane.from_pose(bad)


def test_a_plane_without_a_normal_is_refused():
    with pytest.raises(ValueError, match="normal"):
        Plane.from_coefficients([0.0, 0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="normal"):
        Plane(np.array([0.0, np.inf, 1.0]), 0.0)
    with pytest.raises(ValueError, match="offset"):
        Plane(np.array([0.0, 0.0, 1.0]), np.nan)


def test_the_support_plane_is_the_same_plane_in_torch():
    pose = np.eye(4)
    pose[:3, :3] = np.diag([1.0, -1.0, -1.0])
    pose[:3, 3] = (0.5, 0.0, 0.02)
    plane, support = Plane.from_pose(pose), SupportPlane.from_pose(pose)
    assert support.normal.dtype == torch.float32
    points = np.array([[0.3, 0.2, 0.05], [0.1, 0.0, -0.4]])
    np.testing.assert_allclose(support.height_m(torch.tensor(points)).numpy(), plane.signed_distance_m(points),
                               atol=1e-6)
