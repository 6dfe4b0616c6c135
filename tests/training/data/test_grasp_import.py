"""`flash dataset build --import`: DexGraspNet files and Multi-GraspSet records of a procedural can, written here
in their documented layouts (mesh moved and scaled as the files state), imported, refined and stored.

The reference for the frame bookkeeping is trimesh: stored grasps, mapped back into the file's frame, are
checked for penetration against the mesh file as the data set specifies it (vertices x scale).
"""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import trimesh
from flash_training.data import build as build_module
from flash_training.data.build import PRESETS, build_dataset
from flash_training.data.command import add_arguments, build_config
from flash_training.data.grasp_formats import dexgraspnet_config, save_dexgraspnet
from flash_training.data.grasp_import import ImportedGraspSource, ImportSpec, category_from_code, hand_name
from flash_training.data.objects import ProceduralSource
from flash_training.data.refine import OptimizerConfig
from flash_training.data.storage import DatasetReader

from flash_core.geometry.rotations import rot6d_to_matrix
from flash_core.hands import make_hand
from flash_core.hands.pose import to_dexgraspnet

TINY = PRESETS["tiny"]
DGN_CODE = "core-can-0123456789abcdef0123456789abcdef"
MGS_CODE = "Can_fedcba9876543210fedcba9876543210"
SCALE = 0.5  # the mesh files are stored at twice the size; the grasps belong to the half-size object
OFFSET_M = np.array([0.3, -0.2, 0.1])  # the files' frame: the can is not centred there
PUSH_M = 0.008  # imported grasps are pushed this far into the object, so refinement has work to do


@pytest.fixture(scope="module")
def files(tmp_path_factory, allegro_can):
    """A data-set download in miniature: good and bad DexGraspNet files, a record file, meshes."""
    root = tmp_path_factory.mktemp("download")
    hand, can, x = allegro_can
    x = x.clone()
    palm_normal = rot6d_to_matrix(x[:, 3:9]) @ hand.palm_frame().normal  # (B, 3) world
    x[:, :3] += PUSH_M * palm_normal  # the palm towards the can: fingers and palm sink in
    x[:, :3] += torch.as_tensor(OFFSET_M, dtype=x.dtype)  # into the files' frame

    meshes, dgn = root / "meshdata", root / "dexgraspnet"
    file_mesh = can.asset.mesh.copy()
    file_mesh.apply_translation(OFFSET_M)
    file_mesh.apply_scale(1 / SCALE)
    (meshes / DGN_CODE / "coacd").mkdir(parents=True)
    file_mesh.export(meshes / DGN_CODE / "coacd" / "decomposed.obj")
    file_mesh.export(meshes / f"{MGS_CODE}.obj")
    dgn.mkdir()
    save_dexgraspnet(dgn, DGN_CODE, SCALE, x)
    config = dexgraspnet_config(x)
    np.save(dgn / "core-bad-keys_1000.npy", {"trans": config["trans"]}, allow_pickle=True)
    nan = dict(config, trans=np.full_like(config["trans"], np.nan))
    np.save(dgn / "core-nan-pose_1000.npy", nan, allow_pickle=True)
    np.save(dgn / "core-no-mesh_1000.npy", config, allow_pickle=True)
    # A convex decomposition as DexGraspNet ships it: overlapping closed pieces in one OBJ.
    pieces = [trimesh.creation.box((0.08, 0.03, 0.03)), trimesh.creation.box((0.03, 0.03, 0.1))]
    (meshes / "core-tee-pieces" / "coacd").mkdir(parents=True)
    trimesh.util.concatenate(pieces).export(meshes / "core-tee-pieces" / "coacd" / "decomposed.obj")
    np.save(dgn / "core-tee-pieces_1000.npy", {k: v[:2] for k, v in config.items()}, allow_pickle=True)
    shadow = [{"qpos": {"WRJTx": 0.1, "WRJTy": 0.0, "WRJTz": 0.0, "robot0:FFJ3": 0.2}, "scale": 0.1}] * 2
    np.save(dgn / "core-shadow-release.npy", np.array(shadow, dtype=object), allow_pickle=True)
    (dgn / "core-not-numpy_1000.npy").write_text("not a numpy file")

    poses = to_dexgraspnet(x[:2]).tolist()
    lines = [
        json.dumps(
            {"object": MGS_CODE, "hand": "Allegro", "hand_pose": poses[0], "scale": SCALE, "text": "hug the can"}
        ),
        json.dumps({"object": MGS_CODE, "hand": "allegro", "hand_pose": poses[1], "scale": SCALE}),
        json.dumps({"object": MGS_CODE, "hand": "allegro", "hand_pose": [float("nan")] * 25, "scale": SCALE}),
        json.dumps({"object": MGS_CODE, "hand": "shadowhand", "hand_pose": poses[0], "scale": SCALE}),
    ]
    (root / "records.jsonl").write_text("\n".join(lines) + "\n")
    return {"root": root, "meshes": meshes, "dgn": dgn, "records": root / "records.jsonl", "file_mesh": file_mesh}


def import_config(files):
    return replace(
        TINY,
        sources=(),
        hands=("allegro",),  # Allegro grasps retargeted to LEAP units: test_retarget_import.py
        imports=(
            ImportSpec("dexgraspnet", str(files["root"]), str(files["meshes"])),
            ImportSpec("multigraspset", str(files["records"]), str(files["meshes"])),
        ),
        semantic=None,
        refine=OptimizerConfig(steps=25, polish_steps=3, lr_translation_m=1e-3, lr_rotation=5e-3, prior_weight=1000.0),
        shard_size=1,
    )


@pytest.fixture(scope="module")
def built(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "data"
    config = import_config(files)
    calls = []
    original = build_module.DatasetBuilder._build_imported_unit

    def crash_on_second(self, obj, hand_name, grasps):
        calls.append(obj.asset.object_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        original(self, obj, hand_name, grasps)

    mp = pytest.MonkeyPatch()
    mp.setattr(build_module.DatasetBuilder, "_build_imported_unit", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(out, config)
    build_dataset(out, config, resume=True)
    mp.undo()
    return out, calls


def test_interrupted_import_resumes_without_duplicates(built, files):
    out, calls = built
    tee, can_dgn, can_mgs = (
        "dexgraspnet/core-tee-pieces_1000",
        f"dexgraspnet/{DGN_CODE}_500",
        f"multigraspset/{MGS_CODE}_500",
    )
    assert calls == [can_dgn, tee, tee, can_mgs]  # interrupted in the 2nd unit, which the resume redoes
    before = DatasetReader(out)
    build_dataset(out, import_config(files), resume=True)  # nothing left to do
    reader = DatasetReader(out)
    units = [u for shard in reader.manifest["shards"] for u in shard["units"]]
    assert sorted(units) == sorted(f"{o}|allegro" for o in (can_dgn, tee, can_mgs))
    assert len(reader) == len(before) > 0
    assert len({tuple(reader.grasp_x(i)) for i in range(len(reader))}) == len(reader)


def test_refinement_reduces_penetration_and_kept_grasps_sit_on_the_file_mesh(built, files):
    reader = DatasetReader(built[0])
    stats = reader.unit_stats()[f"dexgraspnet/{DGN_CODE}_500|allegro"]
    before, after = np.array(stats["before"]["max_penetration_m"]), np.array(stats["after"]["max_penetration_m"])
    assert stats["candidates"] == 6 and stats["imported"]["source"] == "dexgraspnet"
    assert np.median(before) > 0.002 and np.median(after) < np.median(before) / 2
    assert stats["kept"] == stats["passing"] > stats["passing_before"]

    # Independent check of the frames: stored grasps moved back into the file's frame, against the file's mesh.
    hand = make_hand("allegro")
    mesh = files["file_mesh"].copy()
    mesh.apply_scale(SCALE)
    centre = np.array(mesh.bounding_box.centroid)
    dgn = [i for i in range(len(reader)) if reader.objects[reader.grasp_object[i]]["source"] == "dexgraspnet"]
    x = torch.as_tensor(np.stack([reader.grasp_x(i) for i in dgn]), dtype=hand.dtype)
    x[:, :3] += torch.as_tensor(centre, dtype=hand.dtype)
    for points in hand.surface_points(x).numpy():
        depth = np.clip(trimesh.proximity.signed_distance(mesh, points), 0, None).max()  # trimesh: + inside
        assert depth < 0.0025
    original = np.load(files["dgn"] / f"{DGN_CODE}_500.npy", allow_pickle=True).item()["trans"]
    shift = np.linalg.norm(x[:, None, :3].numpy() - original[None], axis=-1).min(1)
    assert shift.max() < 0.02  # refined, not replaced: each stays near an imported grasp


def test_bad_files_are_reported_by_name_and_skipped(built):
    reader = DatasetReader(built[0])
    skipped = reader.manifest["skipped_objects"]
    assert "core-bad-keys_1000.npy" in skipped["dexgraspnet/core-bad-keys_1000"]
    assert "lacks" in skipped["dexgraspnet/core-bad-keys_1000"]
    assert "finite" in skipped["dexgraspnet/core-nan-pose_1000"]
    assert "no mesh for object 'core-no-mesh'" in skipped["dexgraspnet/core-no-mesh_1000"]
    assert "ShadowHand release" in skipped["dexgraspnet/core-shadow-release"]
    assert "core-not-numpy_1000.npy: not a readable .npy" in skipped["dexgraspnet/core-not-numpy_1000"]
    assert "records.jsonl:3" in skipped["multigraspset/records.jsonl:3"]
    assert "no model of" in skipped[f"multigraspset/{MGS_CODE}_500|shadowhand"]
    assert {o["object_id"] for o in reader.objects} == {
        f"dexgraspnet/{DGN_CODE}_500",
        f"multigraspset/{MGS_CODE}_500",
        "dexgraspnet/core-tee-pieces_1000",
    }
    report = (built[0] / "report.md").read_text()
    assert "## Imported grasps" in report and "Retargeted" not in report  # LEAP not asked for
    assert "core-no-mesh_1000" in report


def box_sdf(points: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Closed-form signed distance (negative inside) of a centred box with half-extents `half`."""
    q = np.abs(points) - half
    return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)


def test_pieces_are_remeshed_into_one_closed_surface(built):
    reader = DatasetReader(built[0])
    tee = next(o for o in reader.objects if o["object_id"] == "dexgraspnet/core-tee-pieces_1000")
    assert tee["meta"]["watertight"] and any("voxel remesh" in note for note in tee["meta"]["notes"])
    points = np.asarray(reader.object_arrays(reader.objects.index(tee))["points"])
    # Surface samples lie on the union's surface, none on the pieces' inner faces (up to 15 mm inside).
    union = np.minimum(box_sdf(points, np.array([0.04, 0.015, 0.015])), box_sdf(points, np.array([0.015, 0.015, 0.05])))
    assert np.abs(union).max() < 0.003


def test_imported_text_is_kept_and_objects_keep_their_size(built):
    reader = DatasetReader(built[0])
    stats = reader.unit_stats()[f"multigraspset/{MGS_CODE}_500|allegro"]
    assert stats["candidates"] == 2 and stats["imported"]["with_text"]
    mgs = [i for i in range(len(reader)) if reader.objects[reader.grasp_object[i]]["source"] == "multigraspset"]
    mids = {reader.text(i)["mid"] for i in mgs}
    assert all(set(reader.text(i)) == {"low", "mid", "high"} for i in mgs)
    if stats["kept"] == 2:  # the grasp that came with text keeps it, the other gets generated text
        assert "hug the can" in mids and len(mids) == 2
    obj = next(o for o in reader.objects if o["source"] == "multigraspset")
    assert obj["meta"]["scale"] == 1.0 and obj["category"] == "can"
    points = reader.object_arrays(reader.objects.index(obj))["points"]
    can = ProceduralSource(1).load("can_000").mesh
    np.testing.assert_allclose(np.ptp(points, axis=0), can.extents, atol=0.005)


def test_command_line_import(files):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["build", "--preset", "tiny", "--out", "x", "--import", f"dexgraspnet:{files['dgn']}"]
        + ["--meshes", str(files["meshes"]), "--import-limit", "2"]
    )
    config = build_config(args)
    assert config.sources == () and config.imports[0].kind == "dexgraspnet" and config.imports[0].limit == 2
    with pytest.raises(SystemExit, match="KIND:PATH"):
        build_config(parser.parse_args(["build", "--out", "x", "--import", "obj:y", "--meshes", "m"]))
    with pytest.raises(SystemExit, match="--meshes"):
        build_config(parser.parse_args(["build", "--out", "x", "--import", "dexgraspnet:y"]))


def test_names_from_other_data_sets():
    assert category_from_code("core-mug-8570d9a8d24cb0acbebd3c0c0c70fb03") == "mug"
    assert category_from_code("sem-Bottle-1a7ba1f4c892e2da30711cdbdbc73924") == "bottle"
    assert category_from_code("Bag_756066117169dbc96c1d5082d1bdea19") == "bag"
    assert category_from_code("025_mug") == "mug"
    assert hand_name("Allegro_Hand") == "allegro" and hand_name("shadowhand") == "shadowhand"
    with pytest.raises(ValueError, match="unknown grasp import"):
        ImportSpec("graspnet", "a", "b")


def test_an_import_without_grasp_files_fails_clearly(files):
    with pytest.raises(FileNotFoundError, match="no <code>_<scale"):
        ImportedGraspSource(ImportSpec("dexgraspnet", str(files["meshes"]), str(files["meshes"])))
    with pytest.raises(FileNotFoundError, match="mesh folder not found"):
        ImportedGraspSource(ImportSpec("multigraspset", str(files["records"]), str(files["root"] / "nowhere")))


def test_threads_option_is_checked_before_any_work(tmp_path):
    from flash_core.cli import main

    with pytest.raises(SystemExit, match="--threads must be >= 1"):
        main(["dataset", "build", "--preset", "tiny", "--out", str(tmp_path / "out"), "--threads", "0"])
    assert not (tmp_path / "out").exists()
