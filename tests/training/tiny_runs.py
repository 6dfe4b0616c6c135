"""A tiny FLASH-Drive of real procedural objects and seconds-long `flash train` runs on it, for the demo and the
ablation tests (a plain module: the tests import it).

The data set is written through the real storage code with the `tiny` preset's settings and object source, so
`flash eval` can rebuild every object from the manifest for simulation: two training objects (a mug and a can)
and one unseen object (another mug), each with two rendered single-view clouds and 8-D stand-in semantic
features, 8 LEAP grasps each drawn from the initial-state distribution (the trainer does not care whether grasps
hold) with part-naming text at three levels. `unrefined=True` also writes the proposed `x_unrefined.npy` beside
every shard's `x.npy` (the grasps before refinement; here the stored grasps moved by a few millimetres).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from flash_training.data.build import PRESETS, SourceSpec
from flash_training.data.objects import make_object_source
from flash_training.data.processing import process_object
from flash_training.data.storage import DatasetWriter, GraspBatch, StoredObject
from flash_training.data.views import ViewConfig, render_partial_views
from flash_training.train.config import load_config
from flash_training.train.trainer import train

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.hands import make_hand

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "training" / "configs" / "tiny.yaml"
OBJECTS = {"mug_000": "train", "can_000": "train", "mug_001": "unseen_object"}
GRASPS, SEMANTIC_DIM = 8, 8


def _text(category: str, part: str | None, grasp: int) -> dict[str, list[str]]:
    held = f"the {category} by its {part}" if part else f"the {category}"
    return {"high": [f"Pick up {held}.", f"Grab {held}."], "mid": [f"Hold {held} with four fingers."],
            "low": [f"Thumb and index on {held}, grasp {grasp}."]}


def write_procedural_drive(root: Path, unrefined: bool = False) -> Path:
    source_options = {"count_per_category": 2, "categories": ("mug", "can")}
    config = replace(PRESETS["tiny"], sources=(SourceSpec("procedural", source_options),))
    source = make_object_source("procedural", **source_options)
    hand = make_hand("leap")
    sampler = InitialStateSampler.from_hand(hand)
    writer = DatasetWriter(root, config.to_json(), config.splits, shard_size=64)
    writer.register_hand("leap", list(hand.finger_names), list(hand.joint_names))
    for number, (name, split) in enumerate(OBJECTS.items()):
        obj = process_object(source.load(name), config.processing)
        views = render_partial_views(obj.asset.mesh, len(obj.points), ViewConfig(views=2), seed=number,
                                     face_parts=obj.asset.face_parts, full_points=obj.points, sdf=obj.sdf)
        semantic = np.random.default_rng(number).normal(size=(len(obj.points), SEMANTIC_DIM)).astype(np.float16)
        writer.add_object(StoredObject(
            object_id=obj.asset.object_id, category=obj.asset.category, part_names=obj.asset.part_names,
            source=obj.asset.source, licence=obj.asset.licence, split=split, points=obj.points, normals=obj.normals,
            point_parts=obj.point_parts.astype(np.int16), sdf=obj.sdf_grid.values.numpy(),
            sdf_bounds_m=obj.sdf_grid.bounds_m.numpy(), semantic=semantic, views=views))
        x = sampler.sample(GRASPS, generator=torch.Generator().manual_seed(number)).numpy()
        part = "handle" if "handle" in obj.asset.part_names else None
        fingers = len(hand.finger_names)
        writer.add_unit(GraspBatch(obj.asset.object_id, "leap", x, np.zeros((GRASPS, fingers), np.int16),
                                   np.zeros((GRASPS, fingers), np.float32), np.zeros(GRASPS, np.float32),
                                   [_text(obj.asset.category, part, g) for g in range(GRASPS)]), {})
    writer.close()
    if unrefined:
        for shard in sorted((root / "grasps").glob("shard_*")):
            x = np.load(shard / "x.npy")
            noise = np.random.default_rng(0).normal(scale=0.003, size=x.shape).astype(np.float32)
            np.save(shard / "x_unrefined.npy", x + noise)
    return root


def tiny_train_config(data: Path, steps: int = 3):
    """tiny.yaml on `data`: no validation, no progress bar, `steps` steps, half the clouds partial views."""
    config = load_config(TINY_CONFIG)
    config.data.root = str(data)
    config.loop.steps, config.loop.val_every, config.loop.progress = steps, 0, False
    return config


def train_tiny(data: Path, run_dir: Path, steps: int = 3) -> Path:
    """A few steps of `flash train` with the tiny config; returns the run's model folder."""
    return train(tiny_train_config(data, steps), run_dir).model_dir
