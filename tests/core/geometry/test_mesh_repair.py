import numpy as np
import pytest
import trimesh

from flash_core.geometry.mesh import open_cylinder
from flash_core.geometry.mesh_repair import RepairConfig, hausdorff_distance, repair_mesh


@pytest.fixture(scope="module")
def box():
    return trimesh.creation.box(extents=(0.2, 0.1, 0.06))


def test_watertight_mesh_is_left_alone(box):
    repaired, report = repair_mesh(box)
    assert report.steps == () and report.was_watertight and report.is_watertight
    np.testing.assert_array_equal(repaired.faces, box.faces)


def test_box_with_a_missing_side_is_closed_exactly(box):
    open_box = box.copy()
    open_box.update_faces(np.arange(len(box.faces)) >= 2)
    assert not open_box.is_watertight
    repaired, report = repair_mesh(open_box)
    assert report.is_watertight and not report.was_watertight and repaired.is_watertight
    assert report.voxel_size_m is None  # hole filling sufficed
    assert hausdorff_distance(repaired, box) < 1e-9
    assert repaired.volume == pytest.approx(box.volume)


def test_open_cup_becomes_watertight_with_small_change():
    cup = open_cylinder()
    assert not cup.is_watertight
    repaired, report = repair_mesh(cup, RepairConfig(voxel_resolution=64))
    assert report.is_watertight and repaired.is_watertight
    assert report.voxel_size_m == pytest.approx(0.1 / 64)
    # The surface stays within about one voxel of where it was, in both directions.
    assert report.input_to_output_m < 2 * report.voxel_size_m
    assert report.output_to_input_m < 2 * report.voxel_size_m
    lo, hi = repaired.bounds
    np.testing.assert_allclose(hi - lo, cup.extents, atol=2 * report.voxel_size_m)  # scale kept


def test_forced_remesh_keeps_volume_and_shape(box):
    repaired, report = repair_mesh(box, RepairConfig(voxel_resolution=64, force_remesh=True))
    assert repaired.is_watertight
    assert repaired.volume == pytest.approx(box.volume, rel=0.03)
    assert hausdorff_distance(repaired, box) < 1.5 * report.voxel_size_m  # corners round off a little


def test_repair_rejects_bad_meshes():
    with pytest.raises(ValueError, match="empty"):
        repair_mesh(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)))
    with pytest.raises(ValueError, match="NaN"):
        repair_mesh(trimesh.Trimesh([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], [[0, 1, 2]], process=False))
    with pytest.raises(ValueError, match="voxel_resolution"):
        RepairConfig(voxel_resolution=2)
