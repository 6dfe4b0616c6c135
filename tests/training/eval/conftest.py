"""What the evaluation tests share: the packaged LEAP grasps known to hold a cylinder, and their scene."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from flash_training.eval.convex import convex_pieces
from flash_training.eval.grasp_file import read_grasp_file
from flash_training.eval.runner import EvalConfig, approach_directions, grasp_pose
from flash_training.eval.scene import GraspScene

DATA = Path(__file__).parent / "data"
GOOD_FILE = DATA / "leap_cylinder_good.json"


@pytest.fixture(scope="session")
def good_input():
    """Two LEAP grasps of a 6 cm x 12 cm cylinder, synthesised by FLASH-Drive and checked to hold in both
    protocols when they were stored."""
    return read_grasp_file(GOOD_FILE)


@pytest.fixture(scope="session")
def cylinder_scene(good_input):
    mesh = good_input.objects["cylinder"].mesh
    return GraspScene("leap", mesh, convex_pieces(mesh))


@pytest.fixture(scope="session")
def leap_approach():
    return approach_directions({"leap"})["leap"]


@pytest.fixture(scope="session")
def good_poses(good_input, leap_approach):
    return [grasp_pose(c.x, c.up_in_object, leap_approach) for c in good_input.cases]


def shifted(x: np.ndarray, offset_m: np.ndarray) -> np.ndarray:
    """The grasp with its wrist moved by offset_m (object frame)."""
    return np.concatenate([x[:3] + offset_m, x[3:]])


@pytest.fixture()
def quiet_config():
    return replace(EvalConfig(), progress=False)
