"""`flash dataset build --import` with LEAP requested and Allegro grasps in the files: the grasps are retargeted to
the LEAP (flash_core.hands.retarget), refined and stored as LEAP units.

References: the acceptance test re-run on the stored grasps with the exact mesh SDF, and trimesh's signed distance
of the stored LEAP hands' surface points against the mesh file (the frames' bookkeeping).
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
import trimesh
from flash_training.assess import AssessedObject, assess_grasps
from flash_training.data.build import PRESETS, build_dataset
from flash_training.data.grasp_formats import save_dexgraspnet
from flash_training.data.grasp_import import ImportSpec
from flash_training.data.refine import REFINE_CONFIG
from flash_training.data.storage import DatasetReader

from flash_core.hands import make_hand
from flash_core.hands.retarget import RetargetConfig

TINY = PRESETS["tiny"]
CODE = "core-can-00112233445566778899aabbccddeeff"
OFFSET_M = np.array([0.1, 0.05, -0.2])  # the file's frame: the can is not centred there


@pytest.fixture(scope="module")
def built(tmp_path_factory, allegro_can):
    """Allegro grasps synthesised on a can, written as a DexGraspNet file, imported with hands=("leap",)."""
    root = tmp_path_factory.mktemp("download")
    _, can, x = allegro_can
    x = x.clone()
    x[:, :3] += torch.as_tensor(OFFSET_M, dtype=x.dtype)
    mesh = can.asset.mesh.copy()
    mesh.apply_translation(OFFSET_M)
    (root / "meshdata" / CODE / "coacd").mkdir(parents=True)
    mesh.export(root / "meshdata" / CODE / "coacd" / "decomposed.obj")
    (root / "dexgraspnet").mkdir()
    save_dexgraspnet(root / "dexgraspnet", CODE, 1.0, x)
    config = replace(
        TINY,
        sources=(),
        hands=("leap",),  # the Allegro model is built for retargeting only
        imports=(ImportSpec("dexgraspnet", str(root), str(root / "meshdata")),),
        semantic=None,
        refine=replace(REFINE_CONFIG, steps=40, polish_steps=5),
        retarget=RetargetConfig(steps=150),
        shard_size=64,
    )
    out = tmp_path_factory.mktemp("imported") / "data"
    build_dataset(out, config)
    return out, mesh, x


def test_allegro_grasps_become_leap_units(built):
    reader = DatasetReader(built[0])
    stats = reader.unit_stats()[f"dexgraspnet/{CODE}_1000|leap"]
    assert list(reader.manifest["hands"]) == ["leap"] and stats["candidates"] == 6
    assert stats["retargeted"]["from"] == "allegro" and len(stats["retargeted"]["fingertip_error_mm"]) == 6
    assert np.median(stats["retargeted"]["fingertip_error_mm"]) < 3.0
    assert stats["kept"] > 0 and stats["kept"] + sum(stats["rejected"].values()) == 6
    report = (built[0] / "report.md").read_text()
    assert "## Retargeted imported grasps" in report and "| allegro | leap | 1 | 6 |" in report


def test_stored_leap_grasps_pass_the_acceptance_test(built):
    out, mesh, _ = built
    reader = DatasetReader(out)
    leap = make_hand("leap")
    x = torch.as_tensor(np.stack([reader.grasp_x(i) for i in range(len(reader))]), dtype=leap.dtype)
    assert len(x) > 0
    centre = mesh.bounding_box.centroid  # the import centres the object on its bounding box
    centred = mesh.copy()
    centred.apply_translation(-centre)
    assessment = assess_grasps(leap, x, AssessedObject.from_mesh(centred), TINY.acceptance)
    assert assessment.reasons == [None] * len(x)
    assert ((x[:, 9:] >= leap.joint_lower) & (x[:, 9:] <= leap.joint_upper)).all()
    # trimesh, on the file's mesh in the file's frame (positive inside).
    x[:, :3] += torch.tensor(centre, dtype=x.dtype)
    for points in leap.surface_points(x).numpy():
        assert np.clip(trimesh.proximity.signed_distance(mesh, points), 0, None).max() < 0.0025
