"""The simulated depth camera: metric depth, exact intrinsics, only the visible side, labels, poses on a view sphere."""

import numpy as np
import pytest
import trimesh

from flash_core.sim.depth_camera import (
    BACKGROUND,
    TABLE,
    CameraIntrinsics,
    DepthCamera,
    back_project,
    look_at,
    view_sphere_poses,
)

pytest.importorskip("mujoco")

RADIUS = 0.05


def surface_distance_m(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    return np.abs(trimesh.proximity.signed_distance(mesh, points))


def test_intrinsics_from_fovy_follow_mujoco_and_refuse_nonsense():
    k = CameraIntrinsics.from_fovy(320, 240, 45.0)
    assert k.fx == k.fy == pytest.approx(120 / np.tan(np.radians(22.5)))
    assert (k.cx, k.cy) == (159.5, 119.5) and k.fovy_deg == pytest.approx(45.0)
    assert CameraIntrinsics().fovy_deg == pytest.approx(42.6, abs=0.1)  # D435-class default
    np.testing.assert_allclose(k.project(np.array([[0.0, 0.0, 1.0]])), [[159.5, 119.5]])
    with pytest.raises(ValueError, match="focal"):
        CameraIntrinsics(fx=0.0)
    with pytest.raises(ValueError, match="fovy"):
        CameraIntrinsics.from_fovy(64, 48, 180.0)
    with pytest.raises(ValueError, match="intrinsics are"):
        back_project(np.zeros((10, 10)), CameraIntrinsics())


def test_points_lie_on_a_concave_mesh_and_only_its_camera_side_is_seen():
    torus = trimesh.creation.torus(0.06, 0.02, major_sections=64, minor_sections=32)
    poses = view_sphere_poses(3, np.zeros(3), np.random.default_rng(0), (0.3, 0.5), (20.0, 70.0))
    with DepthCamera([torus]) as camera:
        for pose in poses:
            image = camera.render(pose)
            cloud = image.point_cloud(label=0)
            assert len(cloud.points_m) > 2000
            assert surface_distance_m(torus, cloud.points_m[::7]).max() < 1e-3
            # Visible side: the surface normal at each point faces the camera.
            _, _, faces = trimesh.proximity.closest_point(torus, cloud.points_m[::7])
            towards_camera = pose[:3, 3] - cloud.points_m[::7]
            assert (np.sum(torus.face_normals[faces] * towards_camera, axis=1) > 0).mean() > 0.99
            # Depth is z along the optical axis: the world points re-projected land on their own pixels.
            cam = (cloud.points_m - pose[:3, 3]) @ pose[:3, :3]
            np.testing.assert_allclose(cam[:, 2], image.depth_m[tuple(cloud.pixels.T)], atol=1e-6)
            np.testing.assert_allclose(image.intrinsics.project(cam), cloud.pixels[:, ::-1], atol=1e-3)
            assert (image.depth_m[image.segment == BACKGROUND] == 0).all()


def test_any_pinhole_renders_exactly():
    """fx != fy and an off-centre principal point: points still land on the surface, planes stay flat."""
    k = CameraIntrinsics(200, 150, fx=210.0, fy=180.0, cx=80.3, cy=90.8)
    box = trimesh.creation.box((0.08, 0.12, 0.06))
    pose = look_at([0.25, -0.15, 0.2], [0.0, 0.0, 0.0])
    with DepthCamera([box], k, table_height_m=-0.03) as camera:
        image = camera.render(pose)
    cloud = image.point_cloud(label=0)
    assert len(cloud.points_m) > 500 and surface_distance_m(box, cloud.points_m).max() < 1e-3
    table = image.point_cloud(label=TABLE, normals=False).points_m
    assert len(table) > 1000 and np.abs(table[:, 2] + 0.03).max() < 1e-4
    # The table is hidden behind the box: no table point inside the box's footprint.
    assert not ((np.abs(table[:, 0]) < 0.039) & (np.abs(table[:, 1]) < 0.059)).any()


def test_normals_face_the_camera_and_follow_the_surface():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=RADIUS)
    pose = look_at([0.0, -0.4, 0.2], [0.0, 0.0, 0.0])
    with DepthCamera([sphere]) as camera:
        cloud = camera.render(pose).point_cloud(label=0)
    radial = cloud.points_m / np.linalg.norm(cloud.points_m, axis=1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip(np.sum(radial * cloud.normals, axis=1), -1, 1)))
    assert np.isfinite(angle).mean() > 0.99
    assert np.nanmedian(angle) < 2.0 and np.nanpercentile(angle, 95) < 10.0


def test_several_meshes_are_labelled_and_can_move():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=RADIUS)
    box = trimesh.creation.box((0.05, 0.05, 0.05))
    box_pose = np.eye(4)
    box_pose[:3, 3] = [0.0, 0.15, 0.0]
    pose = look_at([0.5, 0.075, 0.2], [0.0, 0.075, 0.0])
    with DepthCamera([sphere, box], mesh_poses=[np.eye(4), box_pose]) as camera:
        image = camera.render(pose)
        labels = set(np.unique(image.segment).tolist())
        assert labels == {BACKGROUND, 0, 1}
        box_points = image.point_cloud(label=1).points_m
        assert surface_distance_m(box, box_points - box_pose[:3, 3]).max() < 1e-3
        moved = box_pose.copy()
        moved[:3, 3] = [0.0, 0.0, 0.2]  # above the sphere now
        camera.set_mesh_pose(1, moved)
        again = camera.render(pose).point_cloud(label=1).points_m
        assert len(again) > 100 and surface_distance_m(box, again - moved[:3, 3]).max() < 1e-3
        with pytest.raises(IndexError):
            camera.set_mesh_pose(2, moved)
        with pytest.raises(ValueError, match="rotation"):
            camera.render(np.diag([1.0, 1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="no faces"):
        DepthCamera([trimesh.Trimesh()])


def test_view_sphere_poses_look_at_the_target_from_the_band():
    target = np.array([0.1, -0.2, 0.05])
    poses = view_sphere_poses(200, target, np.random.default_rng(4), (0.4, 0.7), (15.0, 70.0))
    np.testing.assert_array_equal(poses, view_sphere_poses(200, target, np.random.default_rng(4), (0.4, 0.7)))
    offset = poses[:, :3, 3] - target
    distance = np.linalg.norm(offset, axis=1)
    elevation = np.degrees(np.arcsin(offset[:, 2] / distance))
    assert distance.min() >= 0.4 and distance.max() <= 0.7
    assert elevation.min() >= 15.0 and elevation.max() <= 70.0 and elevation.max() - elevation.min() > 40
    np.testing.assert_allclose(poses[:, :3, 2], -offset / distance[:, None], atol=1e-12)  # optical axis to target
    assert (poses[:, 2, 1] < 0).all()  # image "down" points down in the world
    np.testing.assert_allclose(np.linalg.det(poses[:, :3, :3]), 1.0)
    straight_down = look_at([0.0, 0.0, 1.0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(straight_down[:3, 2], [0.0, 0.0, -1.0])
    with pytest.raises(ValueError, match="elevation"):
        view_sphere_poses(1, target, np.random.default_rng(0), elevation_range_deg=(50.0, 10.0))
