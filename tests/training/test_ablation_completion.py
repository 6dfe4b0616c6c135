"""`flash ablations --clouds ... partial_completed`: goals whose cloud is a stored single view completed by symmetry
(flash_core.perception.completion), on the tiny procedural data set's mugs and cans."""

import numpy as np
import pytest
from flash_training.ablations import AblationConfig, make_goals
from scipy.spatial import cKDTree
from tiny_runs import write_procedural_drive


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    return write_procedural_drive(tmp_path_factory.mktemp("completion") / "data")


def _coverage_mm(cloud: np.ndarray, full: np.ndarray) -> float:
    """Mean distance from the full cloud's points to the nearest point of `cloud`."""
    return 1e3 * float(cKDTree(cloud).query(full)[0].mean())


def test_completed_goals_are_their_partial_views_with_the_unseen_side_added(drive, tmp_path):
    config = AblationConfig(data=str(drive), out=str(tmp_path), budget_steps=1, goals=4, split="train",
                            clouds=("full", "partial", "partial_completed"))
    goals, _ = make_goals(config, "leap")
    assert list(goals) == ["full", "partial", "partial_completed"]
    closer = 0
    for full, partial, done in zip(goals["full"], goals["partial"], goals["partial_completed"], strict=True):
        assert done.cloud == "partial_completed" and (done.key, done.prompt) == (partial.key, partial.prompt)
        assert done.points.shape == done.normals.shape == partial.points.shape
        assert done.features.shape == partial.features.shape
        # Every seen point of the view that survives thinning is still there, with its own features.
        distance, index = cKDTree(partial.points).query(done.points)
        seen = distance < 1e-6
        assert seen.any()
        np.testing.assert_array_equal(done.features[seen], partial.features[index[seen]])
        closer += _coverage_mm(done.points, full.points) < 0.8 * _coverage_mm(partial.points, full.points)
    assert closer >= len(goals["full"]) // 2  # most mug and can views gain their back


def test_only_the_clouds_asked_for_are_made_and_unknown_ones_are_refused(drive, tmp_path):
    config = AblationConfig(data=str(drive), out=str(tmp_path), budget_steps=1, goals=2, split="train",
                            clouds=("partial_completed",))
    goals, _ = make_goals(config, "leap")
    assert list(goals) == ["partial_completed"] and len(goals["partial_completed"]) == 2
    with pytest.raises(ValueError, match="clouds must be some of"):
        AblationConfig(data="d", out="o", budget_steps=1, clouds=("side",))
