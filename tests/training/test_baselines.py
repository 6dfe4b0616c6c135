"""Nearest-neighbour retrieval: the nearest training object by cloud (full or one view), its grasps by prompt,
moved onto the goal cloud; and the prompt match it ranks by."""

import numpy as np
import pytest
from flash_training.baselines.retrieval import RetrievalBaseline, prompt_match
from flash_training.data.storage import DatasetReader
from flash_training.grasp_methods import Goal
from tiny_runs import write_procedural_drive


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    root = write_procedural_drive(tmp_path_factory.mktemp("baselines") / "data")
    return root, DatasetReader(root)


def goal_on(reader, object_id: str, prompt: str, view: int | None = None, shift=(0.0, 0.0, 0.0)) -> Goal:
    arrays = reader.object_arrays([o["object_id"] for o in reader.objects].index(object_id))
    points = np.array(arrays["points"] if view is None else arrays["view_points"][view]) + np.asarray(shift)
    return Goal(object_id, prompt, None, points, cloud="full" if view is None else "partial")


def train_grasps(reader, object_id: str) -> np.ndarray:
    obj = [o["object_id"] for o in reader.objects].index(object_id)
    return np.flatnonzero((reader.grasp_object == obj) & (reader.grasp_split() == "train"))


def test_the_nearest_object_is_found_from_its_full_cloud_and_its_grasps_move_with_the_goal(drive):
    root, reader = drive
    retrieval = RetrievalBaseline(root, "leap")
    shift = np.array([0.3, -0.1, 0.05])
    x = retrieval.grasps(goal_on(reader, "procedural/can_000", "Pick up the can.", shift=shift), 12, seed=0)
    stored = np.stack([reader.grasp_x(int(i)) for i in train_grasps(reader, "procedural/can_000")])
    assert x.shape == (12, 25) and len(stored) < 12  # fewer grasps than asked: they repeat in turn
    for row in x:
        match = np.abs(stored[:, 3:] - row[3:]).max(1) < 1e-6
        assert match.sum() == 1 and np.allclose(row[:3], stored[match][0, :3] + shift, atol=1e-5)
    assert np.allclose(x[: len(stored)], x[len(stored): 2 * len(stored)])


def test_a_single_view_finds_its_object_and_the_prompt_picks_the_grasp(drive):
    root, reader = drive
    retrieval = RetrievalBaseline(root, "leap")
    wanted = int(train_grasps(reader, "procedural/mug_000")[2])
    prompt = reader.paraphrases(wanted)["low"][0]  # "Thumb and index on the mug by its handle, grasp <g>."
    x = retrieval.grasps(goal_on(reader, "procedural/mug_000", prompt, view=1), 3, seed=0)
    mug = np.stack([reader.grasp_x(int(i)) for i in train_grasps(reader, "procedural/mug_000")])
    assert all((np.abs(mug[:, 3:] - row[3:]).max(1) < 1e-6).any() for row in x)  # the mug's, not the can's
    np.testing.assert_allclose(x[0, 3:], reader.grasp_x(wanted)[3:], atol=1e-6)


def test_prompt_match_and_refusals(drive):
    root, _ = drive
    assert prompt_match("grasp the mug", {"high": ["Grasp the MUG!"]}) == 1.0
    assert prompt_match("grasp the mug", {"high": ["hold a can"], "low": ["grasp a mug"]}) == pytest.approx(2 / 4)
    assert prompt_match("grasp the mug", {}) == 0.0
    with pytest.raises(ValueError, match="hand 'allegro' is not in"):
        RetrievalBaseline(root, "allegro")
    with pytest.raises(ValueError, match="holds no leap grasps"):
        RetrievalBaseline(root, "leap", split="unseen_category")
