"""`flash export-grasps`: a flash eval grasp file or a flash demo grasps.json -> isaac_grasp YAML."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from flash_training.eval.grasp_file import write_grasp_file
from scipy.spatial.transform import Rotation

from flash_core.cli import main
from flash_core.geometry.rigid import invert_transform, transform_from_quaternion
from flash_core.hands.spec import load_spec
from flash_core.interchange.isaac_grasp import read_isaac_grasps

DATA = Path(__file__).parent / "eval" / "data"
SPEC = load_spec("leap")


def _world_grasps() -> np.ndarray:
    """(2, 25) LEAP grasps of the packaged example, in the world frame."""
    return np.array([g["x"] for g in json.loads((DATA / "leap_cylinder_good.json").read_text())["grasps"]])


def _hand_pose(x: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    a, b = x[3:6], x[6:9]
    c1 = a / np.linalg.norm(a)
    c2 = b - c1 * (c1 @ b)
    c2 /= np.linalg.norm(c2)
    pose[:3, :3] = np.stack([c1, c2, np.cross(c1, c2)], axis=1)
    pose[:3, 3] = x[:3]
    return pose


def test_grasp_file_exports_poses_in_the_chosen_objects_frame(tmp_path):
    shutil.copy(DATA / "cylinder.obj", tmp_path / "cylinder.obj")
    placed = {"mesh": "cylinder.obj", "position_m": [0.3, -0.1, 0.05],
              "quaternion_xyzw": Rotation.from_euler("z", 40, degrees=True).as_quat().tolist()}
    x = _world_grasps()
    grasps = [{"object": "placed", "x": x[0]}, {"object": "origin", "x": x[1]}, {"object": "placed", "x": x[1]}]
    source = write_grasp_file(tmp_path / "grasps.json", "leap", {"origin": {"mesh": "cylinder.obj"}, "placed": placed},
                              grasps)

    with pytest.raises(SystemExit, match=r"holds grasps of \['origin', 'placed'\]: choose one with --object"):
        main(["export-grasps", "--grasps", str(source), "--out", str(tmp_path / "any.yaml")])
    main(["export-grasps", "--grasps", str(source), "--format", "isaac_grasp", "--object", "placed",
          "--out", str(tmp_path / "placed.yaml")])

    exported = read_isaac_grasps(tmp_path / "placed.yaml", "leap")
    assert exported.object_frame == "placed" and exported.gripper_frame == SPEC.root_body
    assert [g.name for g in exported.grasps] == ["grasp_0", "grasp_2"]  # indices in the grasp file
    world_from_object = transform_from_quaternion(placed["position_m"], placed["quaternion_xyzw"])
    for grasp, world_x in zip(exported.grasps, (x[0], x[1])):
        np.testing.assert_allclose(grasp.matrix, invert_transform(world_from_object) @ _hand_pose(world_x), atol=1e-9)
        np.testing.assert_allclose(grasp.joint_positions(SPEC.joint_names), world_x[9:], atol=1e-12)
        assert grasp.confidence == 1.0


def test_demo_output_keeps_its_ranking_and_verdicts(tmp_path):
    x = _world_grasps()
    records = [{"x": x[0].tolist(), "force": True, "lift": True}, {"x": x[1].tolist(), "force": False, "lift": True},
               {"x": x[1].tolist(), "force": None, "lift": False}]
    source = tmp_path / "grasps.json"
    source.write_text(json.dumps({"prompt": "grasp it", "object": "cylinder", "hand": "leap", "grasps": records}))
    main(["export-grasps", "--grasps", str(source), "--out", str(tmp_path / "out" / "demo.yaml")])

    exported = read_isaac_grasps(tmp_path / "out" / "demo.yaml", "leap")
    assert exported.object_frame == "cylinder"
    assert [g.confidence for g in exported.grasps] == [1.0, 0.5, 0.0]
    np.testing.assert_allclose(exported.grasps[1].matrix, _hand_pose(x[1]), atol=1e-9)


def test_unreadable_inputs_exit_with_one_line(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(SystemExit, match="is neither a grasp file"):
        main(["export-grasps", "--grasps", str(other), "--out", str(tmp_path / "x.yaml")])
    with pytest.raises(SystemExit, match="cannot read"):
        main(["export-grasps", "--grasps", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.yaml")])
    bad_hand = tmp_path / "bad_hand.json"
    bad_hand.write_text(json.dumps({"object": "cylinder", "hand": "shadow", "grasps": [{"x": [0.0] * 25}]}))
    with pytest.raises(SystemExit, match="unknown hand 'shadow'"):
        main(["export-grasps", "--grasps", str(bad_hand), "--out", str(tmp_path / "x.yaml")])
