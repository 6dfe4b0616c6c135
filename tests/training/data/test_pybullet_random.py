"""pybullet's random objects: URDF scale and origin applied, convex pieces fused, licence recorded, broken
objects refused with a reason (and skipped by the builder)."""

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest
import trimesh
from flash_training.data.build import PRESETS, SourceSpec, build_dataset
from flash_training.data.objects import PybulletRandomSource, make_object_source
from flash_training.data.processing import ProcessingConfig, process_object

from flash_core.assets import SOURCES

URDF = """<robot name="blob">
  <link name="body">
    <collision>
      <origin rpy="{rpy}" xyz="{xyz}"/>
      <geometry><mesh filename="{mesh}" scale="{scale}"/></geometry>
    </collision>
  </link>
</robot>
"""


def write_object(root, name, meshes, scale="0.01 0.01 0.01", xyz="0 0 0", rpy="0 0 0", urdf=None):
    """random_urdfs layout: root/name/name.urdf naming root/name/name.obj, whose pieces are `meshes`."""
    folder = root / name
    folder.mkdir(parents=True)
    if meshes is not None:
        trimesh.util.concatenate(meshes).export(folder / f"{name}.obj")
    text = urdf if urdf is not None else URDF.format(mesh=f"{name}.obj", scale=scale, xyz=xyz, rpy=rpy)
    (folder / f"{name}.urdf").write_text(text)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    root = tmp_path_factory.mktemp("random_urdfs")
    cube = trimesh.creation.box((2.0, 2.0, 2.0))  # in the OBJ's units, scaled by the URDF
    # Two cubes sharing a face, as the convex pieces of the real objects touch.
    write_object(root, "000", [cube, cube.copy().apply_translation((2.0, 0.0, 0.0))], scale="0.01 0.02 0.03")
    write_object(root, "001", [cube], xyz="0.1 0.2 0.3", rpy="0 0 1.5707963267948966")
    write_object(root, "002", [cube], urdf="<robot><link name='a'>")  # truncated XML
    write_object(root, "003", None)  # names 003.obj, which is not there
    nan_cube = cube.copy()
    nan_cube.vertices[0] = np.nan
    write_object(root, "004", [nan_cube])
    write_object(root, "005", [cube, cube.copy().apply_translation((10.0, 0.0, 0.0))])  # two bodies 8 units apart
    write_object(root, "006", [cube], urdf="<robot><link name='a'><visual/></link></robot>")
    write_object(root, "007", [trimesh.Trimesh(cube.vertices, cube.faces[:-1])])  # a box with one triangle open
    return root


def test_scale_and_fusion_of_touching_pieces(objects):
    asset = PybulletRandomSource(root=objects).load("000")
    # Closed form: a 4 x 2 x 2 box scaled by (0.01, 0.02, 0.03); the union grows pieces by at most 0.2 mm.
    np.testing.assert_allclose(asset.mesh.extents, [0.04, 0.04, 0.06], atol=5e-4)
    assert abs(asset.mesh.volume - 0.04 * 0.04 * 0.06) < 0.03 * 0.04 * 0.04 * 0.06
    assert asset.mesh.is_watertight and asset.mesh.is_volume
    assert len(asset.mesh.split(only_watertight=False)) == 1  # one shell: the shared face is gone
    assert asset.object_id == "pybullet_random/000" and asset.category == "random" and asset.part_names == ("body",)
    assert "zlib" in asset.licence and any("fused" in note for note in asset.notes)


def test_urdf_origin_places_the_mesh(objects):
    asset = PybulletRandomSource(root=objects).load("001")
    np.testing.assert_allclose(asset.mesh.bounds.mean(0), [0.1, 0.2, 0.3], atol=1e-4)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("002", "not readable as URDF"),
        ("003", "003.obj is missing"),
        ("004", "NaN"),
        ("005", "2 separate bodies"),
        ("006", "no link with a collision or visual"),
    ],
)
def test_broken_objects_are_refused_with_a_reason(objects, name, reason):
    with pytest.raises(ValueError, match=reason):
        PybulletRandomSource(root=objects).load(name)


def test_an_open_piece_is_left_to_mesh_repair(objects):
    asset = PybulletRandomSource(root=objects).load("007")
    assert not asset.mesh.is_watertight and "left to the water-tight repair" in asset.notes[0]
    processed = process_object(asset, ProcessingConfig(num_points=128, oversample=2, sdf_resolution=8))
    # The hole is closed: the 2 cm box's volume (times the graspable-size rescale processing applies).
    expected = (0.02 * processed.scale) ** 3
    assert processed.asset.mesh.is_watertight and abs(processed.asset.mesh.volume - expected) < 0.05 * expected


def test_a_missing_folder_is_named():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PybulletRandomSource(root="/nonexistent/random_urdfs")


def test_builder_stores_good_objects_with_their_licence_and_skips_broken_ones(objects, tmp_path):
    config = replace(
        PRESETS["tiny"],
        sources=(SourceSpec("pybullet_random", {"root": str(objects), "include": ("000", "004")}),),
        hands=("leap",),
        grasps_per_hand=1,
        candidates_per_hand=4,
        semantic=None,
    )
    report = build_dataset(tmp_path / "data", config)
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert "NaN" in manifest["skipped_objects"]["pybullet_random/004"]
    (stored,) = manifest["objects"]
    assert stored["object_id"] == "pybullet_random/000" and "zlib" in stored["licence"]
    assert "pybullet_random/004" in report.read_text()


def test_the_real_objects_load_from_the_pinned_wheel():
    """The fetched pybullet data (fetched here on first use): URDF scale applied, one watertight surface."""
    assert SOURCES["pybullet_random"].licence.startswith("zlib")
    source = make_object_source("pybullet_random", include=("000", "168"))
    asset = source.load("000")
    mesh_element = ET.parse(source.root / "000" / "000.urdf").find("link/collision/geometry/mesh")
    scale = np.array([float(v) for v in mesh_element.get("scale").split()])
    raw = trimesh.load(source.root / "000" / "000.obj", force="mesh", process=False)
    np.testing.assert_allclose(asset.mesh.extents, raw.extents * scale, atol=5e-4)
    assert asset.mesh.is_watertight and asset.mesh.is_volume
    # The union's volume: at least the largest piece's, at most the pieces' sum (they overlap).
    pieces = [piece.volume * np.prod(scale) for piece in raw.split(only_watertight=False)]
    assert max(pieces) <= asset.mesh.volume <= 1.02 * sum(pieces)
    with pytest.raises(ValueError, match="NaN"):  # object 168 ships with NaN vertices
        source.load("168")
