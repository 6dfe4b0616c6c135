"""Object sources: procedural objects are watertight with labelled parts; YCB and user meshes import;
bad meshes are caught."""

import json

import numpy as np
import pytest
import trimesh
from flash_training.data.objects import ProceduralSource, UserMeshSource, YcbSource, make_object_source
from flash_training.data.objects.procedural import CATEGORIES


@pytest.fixture(scope="module")
def procedural():
    source = ProceduralSource(count_per_category=1, seed=7)
    return {name.rsplit("_", 1)[0]: source.load(name) for name in source.names()}


def test_every_category_is_a_watertight_volume_with_all_parts_labelled(procedural):
    assert set(procedural) == set(CATEGORIES)
    for category, asset in procedural.items():
        assert asset.mesh.is_watertight and asset.mesh.is_volume, category
        assert set(np.unique(asset.face_parts)) == set(range(len(asset.part_names))), category
        assert 0.03 < asset.mesh.extents.max() < 0.5, category


def test_part_labels_sit_where_the_part_is(procedural):
    # Closed-form checks from the generators' geometry: handles and heads are where they were built.
    mug = procedural["mug"]
    handle = mug.face_parts == mug.part_names.index("handle")
    body_radius = np.abs(mug.mesh.vertices[:, 1]).max()  # the handle lies in the xz plane, so y spans the body
    assert (mug.mesh.triangles_center[handle][:, 0] > body_radius - 0.006).all()
    hammer = procedural["hammer"]
    head = hammer.face_parts == hammer.part_names.index("head")
    top = hammer.mesh.bounds[1, 2]
    assert (hammer.mesh.triangles_center[head][:, 2] > top - 0.05).all()
    knife = procedural["knife"]
    blade_x = knife.mesh.triangles_center[knife.face_parts == knife.part_names.index("blade")][:, 0]
    handle_x = knife.mesh.triangles_center[knife.face_parts == knife.part_names.index("handle")][:, 0]
    assert blade_x.mean() > handle_x.max() - 0.01


def test_generation_is_seeded():
    a, b = ProceduralSource(2, seed=1).load("bottle_001"), ProceduralSource(2, seed=1).load("bottle_001")
    c = ProceduralSource(2, seed=2).load("bottle_001")
    np.testing.assert_array_equal(a.mesh.vertices, b.mesh.vertices)
    assert not np.allclose(a.mesh.extents, c.mesh.extents)
    with pytest.raises(KeyError, match="procedural object name"):
        ProceduralSource().load("teapot_000")


def test_ycb_objects_load_in_metres_with_a_licence():
    source = make_object_source("ycb", include=("025_mug", "048_hammer"))
    assert source.names() == ["025_mug", "048_hammer"]
    mug = source.load("025_mug")
    assert mug.category == "mug" and "CC BY 4.0" in mug.licence and 0.05 < mug.mesh.extents.max() < 0.2
    with pytest.raises(KeyError, match="unknown YCB"):
        YcbSource(include=("999_unicorn",))
    everything = YcbSource().names()
    assert YcbSource(exclude=("025_mug",)).names() == [n for n in everything if n != "025_mug"]
    with pytest.raises(KeyError, match="unknown YCB"):
        YcbSource(exclude=("999_unicorn",))


@pytest.mark.parametrize("suffix", [".obj", ".stl", ".ply", ".glb"])
def test_user_meshes_import_with_optional_part_labels(tmp_path, suffix):
    (tmp_path / "mug").mkdir()
    box = trimesh.creation.box((0.05, 0.06, 0.07))
    box.export(tmp_path / "mug" / f"blue{suffix}")
    parts = [0] * 6 + [1] * 6
    (tmp_path / "mug" / "blue.parts.json").write_text(
        json.dumps({"part_names": ["body", "handle"], "face_parts": parts})
    )
    source = UserMeshSource(tmp_path)
    asset = source.load("mug/blue")
    assert asset.category == "mug" and asset.part_names == ("body", "handle")
    np.testing.assert_allclose(asset.mesh.extents, [0.05, 0.06, 0.07], atol=1e-6)
    np.testing.assert_array_equal(asset.face_parts, parts)


def test_user_mesh_errors_name_the_problem(tmp_path):
    (tmp_path / "empty.obj").write_text("# no faces\n")
    source = UserMeshSource(tmp_path)
    with pytest.raises(ValueError, match="no triangles"):
        source.load("empty")
    with pytest.raises(FileNotFoundError):
        UserMeshSource(tmp_path / "missing")
