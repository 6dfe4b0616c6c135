"""Tabletop segmentation on a depth scene rendered by MuJoCo (tests/core/perception/tabletop_scene.py): a table
with three objects, 1 mm depth noise; ground truth is the renderer's per-pixel mesh label."""

import numpy as np
import pytest

from flash_core.perception.clusters import NOISE, euclidean_clusters, voxel_downsample
from flash_core.perception.plane import NoPlaneError, PlaneFitConfig, fit_plane_ransac
from flash_core.perception.segmentation import (
    OUTSIDE,
    TABLE,
    NoObjectError,
    NoTableError,
    SegmentationConfig,
    SegmentationError,
    TargetSelection,
    object_cloud,
    segment_scene,
    select_target,
)

pytest.importorskip("mujoco")

from tests.core.perception.tabletop_scene import (  # noqa: E402
    BOX,
    CAMERA_M,
    CYLINDER,
    OBJECT_CENTRES_M,
    SPHERE,
    TABLE_HEIGHT_M,
    render_scene,
    scene_points,
)


@pytest.fixture(scope="module")
def scene():
    """Points (P, 3) in the base frame and their ground-truth labels (P,) (mesh index, -2 the table)."""
    return scene_points(render_scene())


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_table_and_every_object_are_recovered(scene):
    points, truth = scene
    result = segment_scene(points, SegmentationConfig())
    np.testing.assert_allclose(result.table.normal, [0, 0, 1], atol=0.01)
    assert result.table.signed_distance_m(np.zeros((1, 3)))[0] == pytest.approx(-TABLE_HEIGHT_M, abs=0.002)
    assert len(result.objects) == 3
    for mesh_index in range(3):
        truth_mask = truth == mesh_index
        # The predicted object that overlaps this mesh most must match it, point for point, to IoU > 0.8.
        overlaps = [np.sum((result.labels == o.label) & truth_mask) for o in result.objects]
        best = result.objects[int(np.argmax(overlaps))]
        iou = _iou(result.labels == best.label, truth_mask)
        assert iou > 0.8, f"mesh {mesh_index}: IoU {iou:.3f}"
    table_points = result.labels == TABLE
    assert np.mean(truth[table_points] == -2) > 0.99  # -2: the renderer's table label
    assert (result.labels == OUTSIDE).any()  # the infinite rendered plane reaches outside the workspace
    # The table's rectangle: level, at the table's height, spanning the seen part of the workspace box.
    np.testing.assert_allclose(result.table_pose[:3, 2], [0, 0, 1], atol=0.01)
    assert result.table_pose[2, 3] == pytest.approx(TABLE_HEIGHT_M, abs=0.002)
    seen = points[table_points]
    np.testing.assert_allclose(result.table_size_m, np.ptp(seen[:, :2], axis=0), atol=0.01)
    np.testing.assert_allclose(result.table_pose[:2, 3], (seen[:, :2].min(0) + seen[:, :2].max(0)) / 2, atol=0.01)


@pytest.mark.parametrize(("selection", "mesh_index"), [
    (TargetSelection("closest", point_m=(0.6, 0.02, 0.0)), CYLINDER),
    (TargetSelection("index", index=0), BOX),  # the leftmost seen from the robot
    (TargetSelection("index", index=2), SPHERE),
])
def test_target_selection_picks_the_named_object(scene, selection, mesh_index):
    points, truth = scene
    result = segment_scene(points, SegmentationConfig())
    target = select_target(result, selection)
    assert _iou(result.labels == target.label, truth == mesh_index) > 0.8


def test_largest_is_the_object_with_most_points(scene):
    points, truth = scene
    result = segment_scene(points, SegmentationConfig())
    target = select_target(result, TargetSelection("largest"))
    biggest_mesh = int(np.argmax(np.bincount(truth[truth >= 0])))
    assert _iou(result.labels == target.label, truth == biggest_mesh) > 0.8
    with pytest.raises(NoObjectError, match="index 3 asked, but only 3"):
        select_target(result, TargetSelection("index", index=3))


def test_object_cloud_has_the_model_point_count_and_normals_facing_the_camera(scene):
    points, truth = scene
    cylinder = points[truth == CYLINDER]
    assert len(cylinder) > 512
    cloud = object_cloud(cylinder, 512, CAMERA_M)
    assert cloud.points_m.shape == cloud.normals.shape == (512, 3)
    np.testing.assert_allclose(np.linalg.norm(cloud.normals, axis=1), 1.0, atol=1e-4)
    assert np.all(np.sum(cloud.normals * (CAMERA_M - cloud.points_m), axis=1) >= 0)
    # On the cylinder's side the normal is radial: horizontal, pointing away from the axis.
    side = np.abs(cloud.points_m[:, 2] - OBJECT_CENTRES_M[CYLINDER, 2]) < 0.05
    radial = cloud.points_m[side, :2] - OBJECT_CENTRES_M[CYLINDER, :2]
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    assert np.median(np.sum(cloud.normals[side, :2] * radial, axis=1)) > 0.95
    # Fewer points than asked: all of them, none invented.
    assert object_cloud(cylinder[:100], 512, CAMERA_M).points_m.shape == (100, 3)


def test_bad_scenes_fail_with_the_reason(scene):
    points, truth = scene
    config = SegmentationConfig()
    with pytest.raises(SegmentationError, match="no finite point"):
        segment_scene(np.full((10, 3), np.nan), config)
    with pytest.raises(SegmentationError, match=r"must be \(P, 3\)"):
        segment_scene(np.zeros((10, 2)), config)
    with pytest.raises(NoTableError, match="workspace box"):
        segment_scene(points + [5.0, 0.0, 0.0], config)  # e.g. still in the camera frame
    with pytest.raises(NoObjectError, match="no object on the table"):
        segment_scene(points[truth == -2], config)
    with pytest.raises(NoTableError, match="no table plane"):  # the camera sees a wall
        rng = np.random.default_rng(3)
        segment_scene(np.c_[np.full(2000, 0.7), rng.uniform(-0.3, 0.3, (2000, 2)) + [0.0, 0.3]], config)
    with_nan = points.copy()
    with_nan[::7] = np.nan
    result = segment_scene(with_nan, config)
    assert np.all(result.labels[::7] == OUTSIDE) and len(result.objects) == 3
    with pytest.raises(ValueError, match="must lie below"):
        SegmentationConfig(workspace_min_m=(1, 0, 0), workspace_max_m=(0, 1, 1))


def test_ransac_prefers_a_level_table_to_a_larger_wall():
    rng = np.random.default_rng(1)
    table = np.c_[rng.uniform(0, 1, (400, 2)), rng.normal(0.1, 0.002, 400)]
    wall = np.c_[rng.normal(0.0, 0.002, 1200), rng.uniform(0, 1, (1200, 2))]
    plane, inliers = fit_plane_ransac(np.r_[table, wall], PlaneFitConfig(), rng)
    np.testing.assert_allclose(plane.normal, [0, 0, 1], atol=0.01)
    assert plane.offset_m == pytest.approx(-0.1, abs=0.002)
    assert inliers[:400].all() and inliers[400:].mean() < 0.03  # only the wall's strip at the table's height
    # A wall alone: at best a level strip of it (thin, noisy 3-point samples can be level).
    with pytest.raises(NoPlaneError, match="fewer than 200|within 20.0 deg of up"):
        fit_plane_ransac(wall, PlaneFitConfig(), rng, min_inliers=200)


def test_clusters_split_at_the_distance_and_drop_small_ones():
    rng = np.random.default_rng(2)
    big = rng.uniform(0, 0.05, (300, 3))
    small = rng.uniform(0, 0.05, (100, 3)) + [0.2, 0, 0]
    speck = np.array([[0.5, 0.5, 0.5]])
    labels = euclidean_clusters(np.r_[small, big, speck], 0.02, min_points=50)
    assert set(labels[:100]) == {1} and set(labels[100:400]) == {0} and labels[400] == NOISE
    grid = voxel_downsample(np.r_[big, small], 0.01)
    np.testing.assert_allclose(grid.centroids_m[grid.voxel_of_point], np.r_[big, small], atol=0.01 * np.sqrt(3))
    assert grid.counts.sum() == 400
