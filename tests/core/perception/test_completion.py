"""Symmetry completion of single-view clouds: the box and the cylinder of the rendered tabletop scene
(tests/core/perception/tabletop_scene.py, 1 mm depth noise) completed from what the camera sees of them, judged by
Chamfer terms against their true surfaces (the faces resting on the table left out: no camera sees them)."""

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from flash_core.perception.completion import CompletionConfig, CompletionError, complete_occluded
from flash_core.perception.segmentation import object_cloud

pytest.importorskip("mujoco")

from tests.core.perception.tabletop_scene import (  # noqa: E402
    BOX,
    CAMERA_M,
    CYLINDER,
    OBJECT_CENTRES_M,
    TABLE_HEIGHT_M,
    _meshes,
    render_scene,
    scene_points,
)


@pytest.fixture(scope="module")
def views():
    """object -> (its seen ObjectCloud, 2048 points with normals facing the camera; its true surface above the
    table, (S, 3) points)."""
    points, labels = scene_points(render_scene())
    out = {}
    for obj, mesh in enumerate(_meshes()):
        surface = trimesh.sample.sample_surface_even(mesh, 6000, seed=0)[0] + OBJECT_CENTRES_M[obj]
        out[obj] = (object_cloud(points[labels == obj], 2048, CAMERA_M), surface[surface[:, 2] > TABLE_HEIGHT_M + 2e-3])
    return out


def _accuracy_coverage_mm(points: np.ndarray, surface: np.ndarray) -> tuple[float, float]:
    """Mean distance from the points to the surface, and from the surface to the points (the Chamfer terms)."""
    return 1e3 * cKDTree(surface).query(points)[0].mean(), 1e3 * cKDTree(points).query(surface)[0].mean()


@pytest.mark.parametrize(("obj", "max_accuracy_mm", "max_coverage_mm"), [(CYLINDER, 2.5, 4.0), (BOX, 4.0, 7.0)])
def test_a_single_view_completes_to_the_true_surface(views, obj, max_accuracy_mm, max_coverage_mm):
    seen, surface = views[obj]
    _, seen_coverage = _accuracy_coverage_mm(seen.points_m, surface)
    done = complete_occluded(seen.points_m, CAMERA_M, seen.normals).thinned(2048)
    accuracy, coverage = _accuracy_coverage_mm(done.points_m, surface)
    assert seen_coverage > 10.0  # the back half is missing from the view
    assert done.added.any() and len(done.points_m) <= 2048
    assert accuracy < max_accuracy_mm and coverage < max_coverage_mm, (done.method, accuracy, coverage)


def test_the_mirror_plane_passes_near_the_centre_and_normals_face_out(views):
    seen, _ = views[CYLINDER]
    done = complete_occluded(seen.points_m, CAMERA_M, seen.normals, CompletionConfig(method="mirror"))
    centre = OBJECT_CENTRES_M[CYLINDER]
    assert done.method == "mirror" and done.plane_normal[2] == pytest.approx(0.0, abs=1e-9)
    assert abs(done.plane_normal @ centre - done.plane_offset_m) < 5e-3  # metres
    side = done.added & (np.abs(done.normals[:, 2]) < 0.5)  # the mantle (the lid's normals are vertical)
    radial = done.points_m[side, :2] - centre[:2]
    outward = np.sum(done.normals[side, :2] * radial, 1) > 0
    assert side.sum() > 100 and outward.mean() > 0.95  # reflected normals point out of the object, on its back
    assert np.array_equal(done.source[~done.added], np.arange(len(seen.points_m)))


def test_rotation_finds_the_cylinder_axis(views):
    seen, _ = views[CYLINDER]
    done = complete_occluded(seen.points_m, CAMERA_M, None, CompletionConfig(method="rotation"))
    assert done.method == "rotation" and done.normals is None
    assert np.linalg.norm(done.axis_point_m[:2] - OBJECT_CENTRES_M[CYLINDER][:2]) < 0.01


def test_a_view_no_symmetry_explains_is_left_as_seen(views):
    """A box revolved about a vertical axis sticks out into the space the camera saw empty."""
    seen, _ = views[BOX]
    done = complete_occluded(seen.points_m, CAMERA_M, None, CompletionConfig(method="rotation"))
    assert done.method == "none" and done.violation > 0.1 and not done.added.any()
    np.testing.assert_array_equal(done.points_m, seen.points_m)


def test_bad_input_is_refused_with_the_reason(views):
    seen, _ = views[CYLINDER]
    points = seen.points_m
    with pytest.raises(CompletionError, match="fewer than"):
        complete_occluded(np.zeros((0, 3)), CAMERA_M)
    with pytest.raises(CompletionError, match="NaN"):
        complete_occluded(np.where(np.arange(len(points))[:, None] == 3, np.nan, points), CAMERA_M)
    with pytest.raises(CompletionError, match="inside the cloud"):
        complete_occluded(points, points.mean(0))
    with pytest.raises(CompletionError, match="straight down"):
        complete_occluded(points, points.mean(0) + [0.0, 0.0, 0.5])
    with pytest.raises(CompletionError, match=r"\(P, 3\)"):
        complete_occluded(points, CAMERA_M, normals=seen.normals[:10])
    with pytest.raises(ValueError, match="method"):
        CompletionConfig(method="guess")
