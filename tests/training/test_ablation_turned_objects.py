"""`flash ablations --turn-objects`: every goal's object, clouds and reference grasps turned together about the up
axis, on the tiny procedural data set."""

import numpy as np
import pytest
import torch
from flash_training.ablations import AblationConfig, judging_settings, make_goals
from tiny_runs import write_procedural_drive

from flash_core.geometry.rotations import rotate_hand_states


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return write_procedural_drive(tmp_path_factory.mktemp("turned") / "data")


def test_turned_goals_turn_mesh_clouds_camera_and_references_alike(drive, tmp_path):
    settings = dict(data=str(drive), out=str(tmp_path), budget_steps=1, goals=4, split="train",
                    clouds=("full", "partial", "partial_completed"))
    plain_goals, plain_objects = make_goals(AblationConfig(**settings), "leap")
    config = AblationConfig(**settings, turn_objects=True)
    turned_goals, objects = make_goals(config, "leap")
    assert judging_settings(config)["turn_objects"] is True  # stored judgements of upright objects are not reused
    angles = []
    for plain, goal in zip(plain_goals["full"], turned_goals["full"], strict=True):
        assert goal.key != plain.key and goal.key.startswith(plain.key + "@yaw") and goal.key in objects
        before, after = plain_objects[plain.key].mesh.vertices, objects[goal.key].mesh.vertices
        rotation = np.linalg.lstsq(before, after, rcond=None)[0].T  # after = before @ rotation.T
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
        np.testing.assert_allclose(rotation[2], [0, 0, 1], atol=1e-9)  # about the up axis only
        angles.append(np.arctan2(rotation[1, 0], rotation[0, 0]))
        np.testing.assert_allclose(goal.points, plain.points @ rotation.T, atol=1e-5)
        np.testing.assert_allclose(goal.normals, plain.normals @ rotation.T, atol=1e-5)
        expected = rotate_hand_states(torch.as_tensor(plain.reference_x), torch.as_tensor(rotation)).numpy()
        np.testing.assert_allclose(goal.reference_x, expected, atol=1e-9)
        np.testing.assert_array_equal(objects[goal.key].face_parts, plain_objects[plain.key].face_parts)
        assert objects[goal.key].part_names == plain_objects[plain.key].part_names
    assert len(set(np.round(angles, 6))) == len(angles)  # a seeded angle per goal
    for kind in ("partial", "partial_completed"):  # the views are the same camera's, turned with the object
        for plain, goal in zip(plain_goals[kind], turned_goals[kind], strict=True):
            assert goal.key in objects and goal.points.shape == plain.points.shape
    again, _ = make_goals(config, "leap")
    for first, second in zip(turned_goals["full"], again["full"], strict=True):
        assert first.key == second.key and np.array_equal(first.points, second.points)
