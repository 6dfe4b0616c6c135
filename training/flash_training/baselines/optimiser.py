"""The geometry-only optimiser as a grasp method: FLASH-Drive's synthesis (`flash_training.data.synthesis`) run at
request time, the baseline the network is measured against.

It is given what the network is not: the object's exact mesh (its SDF and surface points). The prompt reaches it
only through the part it names: when it names one, the hands start on that part and their fingers are pulled to
it (as the data builder aims candidates at parts); no words beyond that. Its cloud is the mesh's, whatever view
the goal carries, so its partial-cloud figures equal its full-cloud ones.
"""

from __future__ import annotations

import numpy as np
import torch

from flash_core.hands.hand_model import HandModel
from flash_training.data.processing import ProcessedObject, ProcessingConfig, process_object
from flash_training.data.synthesis import SynthesisConfig, synthesize_grasps
from flash_training.grasp_methods import Goal


def optimiser_grasps(hand: HandModel, obj: ProcessedObject, count: int, config: SynthesisConfig, seed: int,
                     part: str | None = None) -> torch.Tensor:
    """`count` optimised grasps (count, 25) of `obj` in its frame, aimed at `part` (a part name) when given."""
    masks = None
    if part is not None:
        mask = obj.point_parts == obj.asset.part_names.index(part)
        if mask.any():
            masks = np.repeat(mask[None], count, axis=0)
    result = synthesize_grasps(hand, obj.sdf, obj.points, obj.normals, count, config, seed=seed,
                               target_masks=masks, grid=obj.sdf_grid)
    return result.optimized.detach()


class OptimiserMethod:
    """`optimiser_grasps` on each goal's object, processed once (points, normals, parts, SDF) and kept."""

    name = "geometry-only optimiser"

    def __init__(self, hand: HandModel, synthesis: SynthesisConfig | None = None,
                 processing: ProcessingConfig | None = None, processed: dict[str, ProcessedObject] | None = None):
        self.hand = hand
        self.hand_name = hand.name
        self.synthesis = synthesis or SynthesisConfig()
        self.processing = processing or ProcessingConfig()
        self.processed = {} if processed is None else processed  # object key -> its processed form (shared cache)

    def _processed(self, goal: Goal) -> ProcessedObject:
        if goal.key not in self.processed:
            from flash_training.data.objects.base import ObjectAsset

            obj = goal.obj
            parts = np.zeros(len(obj.mesh.faces), np.int64) if obj.face_parts is None else obj.face_parts
            asset = ObjectAsset(obj.key, obj.category, obj.mesh.copy(), parts, obj.part_names, "evaluation", "")
            self.processed[goal.key] = process_object(asset, self.processing)
        return self.processed[goal.key]

    def grasps(self, goal: Goal, count: int, seed: int) -> np.ndarray:
        x = optimiser_grasps(self.hand, self._processed(goal), count, self.synthesis, seed, goal.target_part)
        return x.cpu().numpy().astype(np.float64)
