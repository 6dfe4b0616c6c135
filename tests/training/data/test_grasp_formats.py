"""DexGraspNet config-dict files and Multi-GraspSet-style records, written here in their documented layouts."""

import json

import numpy as np
import pytest
import torch
from flash_training.data.grasp_formats import load_dexgraspnet, load_grasp_records
from scipy.spatial.transform import Rotation

from flash_core.geometry.rotations import rot6d_to_matrix
from flash_core.hands.pose import to_dexgraspnet


def test_dexgraspnet_config_dict(tmp_path):
    rot = Rotation.random(5, random_state=0).as_matrix()
    trans = np.random.default_rng(0).normal(size=(5, 3)) * 0.1
    joints = np.random.default_rng(1).uniform(-0.2, 1.5, size=(5, 16))
    np.save(
        tmp_path / "core-mug-8570d9a8_0_0800.npy",
        {"trans": trans, "rot": rot, "joint_angles": joints, "trans_start": trans},
        allow_pickle=True,
    )
    grasps = load_dexgraspnet(tmp_path / "core-mug-8570d9a8_0_0800.npy")
    assert (
        grasps.object_code == "core-mug-8570d9a8_0" and grasps.scale == pytest.approx(0.8) and grasps.hand == "allegro"
    )
    np.testing.assert_allclose(grasps.x[:, :3], trans, atol=1e-6)
    np.testing.assert_allclose(
        rot6d_to_matrix(torch.as_tensor(grasps.x[:, 3:9], dtype=torch.float64)).numpy(), rot, atol=1e-6
    )
    np.testing.assert_allclose(grasps.x[:, 9:], joints, atol=1e-6)


def test_dexgraspnet_hand_pose_and_errors(tmp_path):
    x = np.concatenate([np.zeros((2, 3)), np.tile([1.0, 0, 0, 0, 1, 0], (2, 1)), np.full((2, 16), 0.3)], axis=1)
    np.save(tmp_path / "cup_1000.npy", {"hand_pose": to_dexgraspnet(torch.as_tensor(x)).numpy()}, allow_pickle=True)
    np.testing.assert_allclose(load_dexgraspnet(tmp_path / "cup_1000.npy").x, x, atol=1e-6)
    np.save(tmp_path / "bad_1000.npy", {"trans": np.zeros((2, 3))}, allow_pickle=True)
    with pytest.raises(ValueError, match="lacks"):
        load_dexgraspnet(tmp_path / "bad_1000.npy")
    np.save(tmp_path / "noscale.npy", {"hand_pose": x}, allow_pickle=True)
    with pytest.raises(ValueError, match="scale"):
        load_dexgraspnet(tmp_path / "noscale.npy")


def test_grasp_records_group_by_object_and_keep_text(tmp_path):
    pose = [0.0, 0, 0.1] + [1.0, 0, 0, 0, 1, 0] + [0.2] * 16
    lines = [
        {"object": "mug_1", "hand": "allegro", "hand_pose": pose, "text": "hold the handle"},
        {"object": "bowl_2", "hand": "allegro", "hand_pose": pose, "scale": 0.1},
        {"object": "mug_1", "hand": "allegro", "hand_pose": pose, "text": "lift it"},
    ]
    path = tmp_path / "grasps.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    groups = load_grasp_records(path)
    assert [(g.object_code, len(g.x)) for g in groups] == [("mug_1", 2), ("bowl_2", 1)]
    assert groups[0].text == ["hold the handle", "lift it"] and groups[1].text is None and groups[1].scale == 0.1
    np.testing.assert_allclose(groups[0].x[0], pose, atol=1e-6)
    path.write_text(json.dumps({"object": "x", "hand": "allegro", "hand_pose": [0.0] * 24}) + "\n")
    with pytest.raises(ValueError, match="24 numbers"):
        load_grasp_records(path)


def test_save_dexgraspnet_round_trips_through_the_importer(tmp_path):
    from flash_training.data.grasp_formats import save_dexgraspnet

    from flash_core.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d

    generator = torch.Generator().manual_seed(3)
    rotation = axis_angle_to_matrix(torch.randn(4, 3, generator=generator, dtype=torch.float64))
    x = torch.cat((torch.randn(4, 3, generator=generator, dtype=torch.float64) * 0.1, matrix_to_rot6d(rotation),
                   torch.rand(4, 16, generator=generator, dtype=torch.float64)), dim=-1)
    path = save_dexgraspnet(tmp_path, "core-mug-0a1b", 0.08, x)
    assert path.name == "core-mug-0a1b_80.npy"
    imported = load_dexgraspnet(path)
    assert (imported.object_code, imported.hand, imported.scale) == ("core-mug-0a1b", "allegro", 0.08)
    np.testing.assert_allclose(imported.x, x.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 25\)"):
        save_dexgraspnet(tmp_path, "bad", 1.0, x[:, :20])
