"""Mesh processing checked against trimesh: points on the surface, outward normals, parts, SDF grid; bad meshes."""

import numpy as np
import pytest
import torch
import trimesh
from flash_training.data.objects import ProceduralSource
from flash_training.data.objects.base import ObjectAsset, single_part
from flash_training.data.processing import MeshProcessingError, ProcessingConfig, process_object

CONFIG = ProcessingConfig(num_points=256, oversample=4, sdf_resolution=24)


def asset_from(mesh, object_id="test/x"):
    face_parts, names = single_part(mesh)
    return ObjectAsset(object_id, "thing", mesh, face_parts, names, "test", "none")


@pytest.fixture(scope="module")
def mug():
    return process_object(ProceduralSource(1).load("mug_000"), CONFIG)


def test_points_lie_on_the_surface_with_outward_normals_and_parts(mug):
    mesh = mug.asset.mesh
    closest, distance, faces = trimesh.proximity.closest_point(mesh, mug.points)
    assert mug.points.shape == (256, 3) and distance.max() < 1e-5
    outside = mesh.contains(mug.points + 2e-3 * mug.normals)
    assert outside.mean() < 0.02  # a step along the normal leaves the solid (a few samples sit on sharp rims)
    agree = mug.point_parts == mug.asset.face_parts[faces]
    assert agree.mean() > 0.98  # closest face can be the neighbour across a part seam
    assert set(np.unique(mug.point_parts)) == {0, 1}
    np.testing.assert_allclose(mesh.bounding_box.centroid, 0, atol=1e-9)


def test_sdf_grid_matches_trimesh_within_its_error_bound(mug):
    grid = mug.sdf_grid
    rng = np.random.default_rng(0)
    low, high = grid.bounds_m.numpy()
    queries = rng.uniform(low, high, size=(300, 3))
    reference = -trimesh.proximity.signed_distance(mug.asset.mesh, queries)  # trimesh: positive inside
    values = grid(torch.as_tensor(queries, dtype=torch.float32)[None])[0].numpy()
    assert np.abs(values - reference).max() <= grid.max_error_m + 1e-5


def test_small_objects_are_scaled_into_the_graspable_range():
    processed = process_object(asset_from(trimesh.creation.box((0.01, 0.01, 0.02))), CONFIG)
    assert processed.asset.mesh.extents.max() == pytest.approx(CONFIG.min_extent_m)
    assert processed.scale == pytest.approx(2.0) and "scaled" in processed.notes[-1]


def test_holes_are_filled_and_broken_meshes_are_refused():
    box = trimesh.creation.box((0.05, 0.05, 0.05))
    open_box = trimesh.Trimesh(box.vertices, box.faces[:-1])
    repaired = process_object(asset_from(open_box), CONFIG)
    assert repaired.asset.mesh.is_watertight and any("filled holes" in n for n in repaired.notes)
    with pytest.raises(MeshProcessingError, match="empty"):
        process_object(asset_from(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), int))), CONFIG)
    flat = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2]])
    with pytest.raises(MeshProcessingError, match="degenerate"):
        process_object(asset_from(flat), CONFIG)
    nan = box.copy()
    nan.vertices[0, 0] = np.nan
    with pytest.raises(MeshProcessingError, match="NaN"):
        process_object(asset_from(nan), CONFIG)
