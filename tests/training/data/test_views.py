"""Partial views of a processed object: N points on its camera-facing surface, with true normals, parts and links to
the full cloud."""

import numpy as np
import pytest
import torch
from flash_training.data.build import PRESETS
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import process_object
from flash_training.data.views import ViewConfig, render_partial_views, thin_cloud

pytest.importorskip("mujoco")

N = 256


@pytest.fixture(scope="module")
def mug():
    return process_object(ProceduralSource(1).load("mug_000"), PRESETS["tiny"].processing)


@pytest.fixture(scope="module")
def views(mug):
    config = ViewConfig(views=4)
    return config, render_partial_views(
        mug.asset.mesh, N, config, seed=3, face_parts=mug.asset.face_parts, full_points=mug.points, sdf=mug.sdf
    )


def test_views_lie_on_the_visible_surface_with_its_normals(mug, views):
    config, v = views
    assert v.points.shape == (4, N, 3) and v.normals.shape == (4, N, 3) and v.cam_to_object.shape == (4, 4, 4)
    query = mug.sdf.query(torch.as_tensor(v.points.reshape(1, -1, 3), dtype=torch.float64))
    assert query.distance_m.abs().max() < 1e-3  # on the surface (float32 storage)
    np.testing.assert_allclose(np.linalg.norm(v.normals, axis=-1), 1.0, atol=1e-5)
    towards_camera = v.cam_to_object[:, None, :3, 3] - v.points
    assert (np.sum(v.normals * towards_camera, axis=-1) > 0).mean() > 0.98  # the side facing the camera
    assert (v.points[..., 2] >= mug.asset.mesh.bounds[0, 2] - 1e-6).all()
    # Cameras sit in the configured band round the object's centre and look at it.
    offset = v.cam_to_object[:, :3, 3] - mug.asset.mesh.bounds.mean(0)
    distance = np.linalg.norm(offset, axis=1)
    low, high = config.distance_range_m
    assert (distance >= low - 1e-6).all() and (distance <= high + 1e-6).all()
    elevation = np.degrees(np.arcsin(offset[:, 2] / distance))
    assert (elevation >= config.elevation_range_deg[0] - 1e-4).all()
    # A view is partial: it misses part of the object that the full cloud covers.
    for k in range(4):
        gap = np.linalg.norm(mug.points[:, None] - v.points[k][None], axis=-1).min(1)
        assert gap.max() > 0.02
    assert (v.visible_points > N).all()


def test_parts_and_nearest_full_points_agree(mug, views):
    _, v = views
    assert set(np.unique(v.point_parts)) <= set(range(len(mug.asset.part_names)))
    assert (v.point_parts == mug.asset.part_names.index("handle")).any()  # some camera sees the handle
    linked = mug.points[v.nearest]  # (K, N, 3)
    assert np.linalg.norm(linked - v.points, axis=-1).max() < 0.02
    # Where the nearest full-cloud point is close, its part label is the view point's.
    close = np.linalg.norm(linked - v.points, axis=-1) < 0.003
    assert (mug.point_parts[v.nearest][close] == v.point_parts[close]).mean() > 0.97


def test_views_are_seeded(mug, views):
    _, v = views
    again = render_partial_views(mug.asset.mesh, N, ViewConfig(views=4), seed=3, sdf=mug.sdf)
    np.testing.assert_array_equal(again.points, v.points)
    assert (again.nearest == -1).all()  # no full cloud given: no links
    other = render_partial_views(mug.asset.mesh, N, ViewConfig(views=1), seed=4, sdf=mug.sdf)
    assert not np.allclose(other.cam_to_object[0], v.cam_to_object[0])


def test_thin_cloud_samples_or_repeats():
    points = np.random.default_rng(0).normal(size=(100, 3))
    index = thin_cloud(points, 10)
    assert len(set(index.tolist())) == 10
    np.testing.assert_array_equal(thin_cloud(points[:3], 7), [0, 1, 2, 0, 1, 2, 0])
    with pytest.raises(ValueError, match="sees nothing"):
        thin_cloud(points[:0], 4)
    with pytest.raises(ValueError, match="views"):
        ViewConfig(views=0)
