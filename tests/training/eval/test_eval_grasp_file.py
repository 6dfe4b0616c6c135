"""The grasp file: malformed files fail with the field and grasp index named; poses land in the object frame."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import DATA, GOOD_FILE
from flash_training.eval.grasp_file import GraspFileError, read_grasp_file, write_grasp_file

from flash_core.geometry.rotations import axis_angle_to_matrix


@pytest.fixture()
def grasp_dir(tmp_path):
    shutil.copy(DATA / "cylinder.obj", tmp_path / "cylinder.obj")
    return tmp_path


def _write(folder, edit):
    raw = json.loads(GOOD_FILE.read_text())
    edit(raw)
    path = folder / "grasps.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(("edit", "message"), [
    (lambda r: r["grasps"][1].update(x=r["grasps"][1]["x"][:24]),
     r"grasps\[1\]\.x: expected a list of 25 numbers, got 24"),
    (lambda r: r["grasps"][0]["x"].__setitem__(3, float("nan")),
     r"grasps\[0\]\.x: holds NaN or infinity at positions \[3\]"),
    (lambda r: r.update(hand="shadow"), r"hand: unknown hand 'shadow'"),
    (lambda r: r["objects"]["cylinder"].update(mesh="missing.obj"),
     r"objects\.cylinder\.mesh: no mesh file at .*missing\.obj"),
    (lambda r: r["grasps"][1].update(object="mug"), r"grasps\[1\]\.object: unknown object 'mug'"),
    (lambda r: r.update(joint_names=r["joint_names"][:15]), r"joint_names: must name each of the leap joints"),
    (lambda r: r["grasps"][0].update(target_part="handle"), r"grasps\[0\]\.target_part: 'handle' is not a part"),
    (lambda r: r["objects"]["cylinder"].update(scale=-1), r"objects\.cylinder\.scale: expected a positive number"),
    (lambda r: r["grasps"][0]["x"].__setitem__(slice(3, 9), [0.0] * 6),
     r"grasps\[0\]\.x: rot6d columns are parallel or zero"),
    (lambda r: r.update(version=7), r"format/version: expected 'flash-grasps' version 1"),
])
def test_malformed_files_name_the_field(grasp_dir, edit, message):
    with pytest.raises(GraspFileError, match=message):
        read_grasp_file(_write(grasp_dir, edit))


def test_not_json_is_a_clear_error(tmp_path):
    path = tmp_path / "grasps.json"
    path.write_text("{not json")
    with pytest.raises(GraspFileError, match="is not valid JSON"):
        read_grasp_file(path)


def test_world_pose_and_joint_order_are_converted(grasp_dir, good_input):
    """The same grasps written with the object moved and turned, the hand moved with it and the joints listed in
    reverse order, read back to the same object-frame poses."""
    rotation = axis_angle_to_matrix(torch.tensor([0.3, -0.5, 0.9], dtype=torch.float64)).numpy()
    position = np.array([0.4, -0.2, 0.75])
    from scipy.spatial.transform import Rotation

    raw = json.loads(GOOD_FILE.read_text())
    grasps = []
    for case in good_input.cases:
        hand_rotation = rotation @ torch.tensor(case.x[3:9]).reshape(2, 3).T.numpy()  # first two columns
        x = np.concatenate([rotation @ case.x[:3] + position, hand_rotation.T.ravel(), case.x[9:][::-1]])
        grasps.append({"object": "cylinder", "x": x.tolist()})
    raw.update(joint_names=raw["joint_names"][::-1], grasps=grasps)
    raw["objects"]["cylinder"].update(position_m=position.tolist(),
                                      quaternion_xyzw=Rotation.from_matrix(rotation).as_quat().tolist())
    (grasp_dir / "moved.json").write_text(json.dumps(raw))
    moved = read_grasp_file(grasp_dir / "moved.json")
    for a, b in zip(moved.cases, good_input.cases):
        np.testing.assert_allclose(a.x, b.x, atol=1e-9)
        np.testing.assert_allclose(a.up_in_object, rotation.T @ [0, 0, 1], atol=1e-12)


def test_write_then_read_round_trip(grasp_dir, good_input):
    x = np.stack([c.x for c in good_input.cases])
    path = write_grasp_file(grasp_dir / "out.json", "leap", {"cylinder": {"mesh": "cylinder.obj"}},
                            [{"object": "cylinder", "x": xi, "prompt": "grasp it"} for xi in x])
    again = read_grasp_file(path)
    np.testing.assert_allclose(np.stack([c.x for c in again.cases]), x, atol=1e-12)
    assert [c.prompt for c in again.cases] == ["grasp it", "grasp it"]
