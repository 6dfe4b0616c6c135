"""During training, `flash eval` judges grasps the model generates for validation goals (the real simulator and
metrics, on a procedural mug the evaluation can rebuild from the data set's manifest)."""

import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG
from flash_training.data.build import PRESETS
from flash_training.data.objects import make_object_source
from flash_training.data.processing import process_object
from flash_training.data.storage import DatasetWriter, GraspBatch, StoredObject
from flash_training.train.config import load_config
from flash_training.train.eval_hook import evaluate_generated

from flash_core.flow.initial_state import InitialStateSampler
from flash_core.flow.solver import SolverConfig
from flash_core.hands import make_hand
from flash_core.model.flash_model import FlashModel
from flash_core.model.text_backbone import load_text_backbone


@pytest.mark.slow
def test_generated_grasps_of_validation_goals_are_simulated_and_measured(tmp_path):
    tiny = PRESETS["tiny"]
    source = tiny.sources[0]
    mug = process_object(make_object_source(source.kind, **source.options).load("mug_000"), tiny.processing)
    writer = DatasetWriter(tmp_path / "data", tiny.to_json(), tiny.splits)
    hand = make_hand("leap")
    writer.register_hand("leap", list(hand.finger_names), list(hand.joint_names))
    writer.add_object(StoredObject(
        object_id="procedural/mug_000", category=mug.asset.category, part_names=mug.asset.part_names,
        source=mug.asset.source, licence=mug.asset.licence, split="train", points=mug.points, normals=mug.normals,
        point_parts=mug.point_parts, sdf=mug.sdf_grid.values.numpy(), sdf_bounds_m=mug.sdf_grid.bounds_m.numpy()))
    x = InitialStateSampler.from_hand(hand).sample(2, generator=torch.Generator().manual_seed(0)).numpy()
    text = [{level: ["grasp the mug by its handle"] for level in ("low", "mid", "high")}] * 2
    fingers = len(hand.finger_names)
    writer.add_unit(GraspBatch("procedural/mug_000", "leap", x, np.zeros((2, fingers), np.int16),
                               np.zeros((2, fingers), np.float32), np.zeros(2, np.float32), text), {})
    writer.close()

    config = load_config(TINY_CONFIG).model
    model = FlashModel(config, load_text_backbone(config.text, scratch_corpus=["grasp the mug by its handle"]),
                       hand.surface_points).train()
    numbers = evaluate_generated(model, hand, str(tmp_path / "data"), "all", goals=1, grasps_per_goal=2,
                                 solver=SolverConfig(method="euler", steps=2), seed=0, out=tmp_path / "eval")
    assert numbers["eval/grasps"] == 2 and model.training
    for name in ("eval/lift/success", "eval/force/success", "eval/penetration_mm/under_2mm"):
        assert 0.0 <= numbers[name] <= 1.0
    assert numbers["eval/chamfer_mm"] > 0  # measured against the data set's grasp
    assert (tmp_path / "eval" / "report.md").is_file() and (tmp_path / "eval" / "metrics.json").is_file()
