"""`flash eval` during training: grasps the model generates for a few validation goals, judged in MuJoCo.

A goal is a validation grasp's object (its stored full cloud) and high-level prompt; the model generates
`grasps_per_goal` grasps for it through `GraspGenerator` (the inference path, in the object's frame) and
`flash_training.eval.evaluate_grasps` simulates and measures them, with the data set's grasp as the Chamfer
reference. The report goes to <run>/eval/step_<S>/; the summary's numbers come back for the logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from flash_core.flow.initial_state import InitialStateConfig
from flash_core.flow.solver import SolverConfig
from flash_core.generator import GraspGenerator


def evaluate_generated(model, hand, data_root: str, split: str, goals: int, grasps_per_goal: int,
                       solver: SolverConfig, seed: int, out: Path,
                       initial_state: InitialStateConfig | None = None) -> dict[str, float]:
    """Generate (from the x_0 distribution `initial_state`, the one the model trains with) and judge; returns the
    overall summary's numbers as {"eval/<path>": value}."""
    from flash_training.data.storage import DatasetReader
    from flash_training.eval.cases import EvalInput, GraspCase
    from flash_training.eval.dataset_input import read_dataset
    from flash_training.eval.evaluate import evaluate_grasps
    from flash_training.eval.runner import EvalConfig

    references = read_dataset(data_root, split, limit=goals, hands=(hand.name,), seed=seed)
    reader = DatasetReader(data_root)
    generator = GraspGenerator(model, hand, solver, initial_state)
    cases = []
    for goal, case in enumerate(references.cases):
        cloud = np.array(reader.object_arrays(int(reader.grasp_object[case.index]))["points"])
        for k, grasp in enumerate(generator.generate(case.prompt, cloud, num_grasps=grasps_per_goal,
                                                     seed=seed + goal)):
            cases.append(GraspCase(index=goal * grasps_per_goal + k, hand=hand.name, object_key=case.object_key,
                                   x=grasp.vector.astype(np.float64), up_in_object=case.up_in_object,
                                   prompt=case.prompt, target_part=case.target_part, split=case.split,
                                   reference_x=case.x[None]))
    model.train()  # GraspGenerator switched it to evaluation mode
    result = evaluate_grasps(EvalInput(objects=references.objects, cases=cases), EvalConfig(progress=False),
                             out=out, renders=2, title=f"generated grasps, split {split}")
    return _numbers(result.summary["all"], "eval")


def _numbers(summary: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            out.update(_numbers(value, f"{prefix}/{key}"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}/{key}"] = float(value)
    return out
