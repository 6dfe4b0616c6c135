"""A small FLASH-Drive written through the real storage code, and the tiny training config, for the trainer tests.

The data set is written directly (no synthesis: the trainer does not care whether grasps hold): 3 ellipsoid
objects of 300 points with 2 stored partial views each and an SDF grid, 16 LEAP grasps per object drawn around
them, three text levels with two paraphrases each. 12 grasps per object train, 4 are held out as "seen".
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from flash_training.data.splits import SplitConfig
from flash_training.data.storage import DatasetWriter, GraspBatch, StoredObject
from flash_training.data.views import PartialViews
from flash_training.train.config import load_config

from flash_core.flow.initial_state import InitialStateConfig, InitialStateSampler
from flash_core.hands import make_hand

REPO = Path(__file__).resolve().parents[3]
TINY_CONFIG = REPO / "training" / "configs" / "tiny.yaml"
POINTS, VIEWS, GRASPS = 300, 2, 16


def _ellipsoid(radii: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(POINTS, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = (directions * radii).astype(np.float32)
    normals = points / radii**2
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    axis = np.linspace(-0.1, 0.1, 8)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
    sdf = (np.linalg.norm(grid / radii, axis=-1) - 1.0) * radii.min()  # negative inside; exact enough here
    # A view: the points facing one camera direction, repeated up to N (as views.thin_cloud does).
    views = []
    for camera in ([1.0, 0.0, 0.5], [-0.5, 1.0, 0.5]):
        facing = np.flatnonzero(normals @ np.asarray(camera) > 0)
        views.append(facing[np.arange(POINTS) % len(facing)])
    views = np.stack(views)
    return StoredObject(
        object_id=f"procedural/ellipsoid_{seed:03d}", category="ellipsoid", part_names=("body",), source="test",
        licence="CC0", split="train", points=points, normals=normals.astype(np.float32),
        point_parts=np.zeros(POINTS, np.int16), sdf=sdf.astype(np.float32),
        sdf_bounds_m=np.array([[-0.1] * 3, [0.1] * 3], np.float32),
        views=PartialViews(points=points[views], normals=normals[views].astype(np.float32),
                           point_parts=np.zeros((VIEWS, POINTS), np.int16), nearest=views.astype(np.int32),
                           cam_to_object=np.tile(np.eye(4, dtype=np.float32), (VIEWS, 1, 1)),
                           visible_points=np.full(VIEWS, POINTS, np.int32)))


def write_tiny_drive(root: Path) -> Path:
    hand = make_hand("leap", num_surface_points=128, allow_primitives=True)
    sampler = InitialStateSampler.from_hand(hand, InitialStateConfig(radius_m=0.09))
    writer = DatasetWriter(root, {"test": "trainer"}, SplitConfig(0.0, 0.0, seen_grasp_fraction=0.25), 64)
    writer.register_hand("leap", list(hand.finger_names), list(hand.joint_names))
    for seed, radii in enumerate(([0.04, 0.04, 0.06], [0.03, 0.05, 0.03], [0.05, 0.05, 0.05])):
        obj = _ellipsoid(np.asarray(radii), seed)
        writer.add_object(obj)
        x = sampler.sample(GRASPS, generator=torch.Generator().manual_seed(seed)).numpy()
        fingers = len(hand.finger_names)
        text = [{level: [f"{level} grasp {g} of ellipsoid {seed}", f"{level} wording two, grasp {g}"]
                 for level in ("low", "mid", "high")} for g in range(GRASPS)]
        writer.add_unit(GraspBatch(obj.object_id, "leap", x, np.zeros((GRASPS, fingers), np.int16),
                                   np.zeros((GRASPS, fingers), np.float32), np.zeros(GRASPS, np.float32), text), {})
    writer.close()
    return root


@pytest.fixture(scope="session")
def tiny_drive(tmp_path_factory) -> Path:
    return write_tiny_drive(tmp_path_factory.mktemp("tiny-drive"))


@pytest.fixture()
def tiny_config(tiny_drive):
    """The tiny training config on the tiny data set (a fresh object per test: tests may change it)."""
    config = load_config(TINY_CONFIG)
    config.data.root = str(tiny_drive)
    config.loop.progress = False
    return config
