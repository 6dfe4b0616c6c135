"""Grasp methods behind one interface, so the demo and the ablation report run the network and its baselines alike.

A `Goal` is what a method is asked: a prompt and the object cloud a robot has (full, or one camera's view), in the
object's frame, plus the object itself (mesh and parts) for judging, and for methods that are given the mesh.
A `GraspMethod` answers with K hand poses x (K, 25) in that frame:

- `NetworkMethod`                           a FLASH model through `GraspGenerator` (optionally polished or
                                            settled, optionally the best ranked of a larger pool);
- `flash_training.baselines.retrieval`      nearest neighbour in the training set (cloud Chamfer + prompt words);
- `flash_training.baselines.optimiser`      FLASH-Drive's geometry-only optimisation on the object's mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from flash_core.generator import GraspGenerator
from flash_training.eval.cases import EvalObject


@dataclass(frozen=True)
class Goal:
    key: str  # the object's key (EvalObject.key)
    prompt: str
    obj: EvalObject  # mesh and parts, object frame: for judging and for methods given the mesh
    points: np.ndarray  # (N, 3) the cloud the method sees, object frame, metres
    normals: np.ndarray | None = None  # (N, 3) outward unit normals of the cloud
    features: np.ndarray | None = None  # (N, C) per-point semantic features, where the data has them
    target_part: str | None = None  # the part the prompt names, if any
    cloud: str = "full"  # "full", "partial" (one camera's view) or "partial_completed" (that view completed)
    reference_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 25)))  # ground-truth grasps, for Chamfer


class GraspMethod(Protocol):
    name: str
    hand_name: str

    def grasps(self, goal: Goal, count: int, seed: int) -> np.ndarray:
        """`count` hand poses (count, 25) for the goal, in the object frame, best first where the method ranks."""
        ...


class NetworkMethod:
    """A trained FLASH model: `GraspGenerator.generate` on the goal's cloud (its normals feed the ranking and the
    polish; its features a model trained with semantics)."""

    def __init__(self, generator: GraspGenerator, name: str = "FLASH", polish: bool = False, settle: bool = False,
                 pool: int = 1):
        if pool < 1:
            raise ValueError(f"pool must be >= 1, got {pool}")
        self.generator = generator
        self.hand_name = generator.hand.name
        self.name = name
        self.polish = polish
        self.settle = settle
        self.pool = pool  # generate pool x count grasps and answer the `count` the generator ranks first

    def grasps(self, goal: Goal, count: int, seed: int) -> np.ndarray:
        uses_semantics = self.generator.model.config.use_semantics
        if uses_semantics and goal.features is None:
            raise ValueError(f"{self.name} uses per-point semantic features, and the goal for {goal.key} has none")
        generated = self.generator.generate(goal.prompt, goal.points, num_grasps=count * self.pool, seed=seed,
                                            object_normals=goal.normals,
                                            object_features=goal.features if uses_semantics else None,
                                            polish=self.polish, settle=self.settle)
        return np.stack([g.vector for g in generated[:count]]).astype(np.float64)
