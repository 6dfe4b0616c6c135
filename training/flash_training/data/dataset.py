"""A torch Dataset over a FLASH-Drive folder: one item per stored grasp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from flash_core.geometry.sdf_grid import SDFGrid
from flash_training.data.splits import DATASET_SPLITS
from flash_training.data.storage import TEXT_LEVELS, DatasetReader


class FlashDriveDataset(Dataset):
    """Items are dicts:

    prompt (str), text_level (str), hand (str), object_id (str), object_index (int),
    view (int: the stored partial view the cloud comes from, -1 for the full cloud),
    object_points (N, 3) float32, object_normals (N, 3) float32, part_labels (N,) int64,
    semantic (N, C) float32 (only when the object has features), x (25,) float32,
    finger_part (F_max,) int64 (-1: no contact), finger_distance_m (F_max,) float32.

    `text_level` is "low", "mid", "high" or "random" (a level drawn per item). `paraphrases=True` draws one of the
    grasp's stored wordings at that level, False takes the main one. `partial_view_probability` is the chance that
    an item's cloud is one of its object's stored single-view partial clouds (drawn uniformly) instead of the full
    cloud: points, normals, part labels and semantic features (those of each point's nearest full-cloud point)
    then all come from the view, in the same object frame as x. Draws come from a generator seeded with `seed`,
    the epoch (`set_epoch`) and the index: an epoch is reproducible, and the next one draws afresh.

    The object's SDF grid is not in the item because it is shared by all grasps of the object: get it once with
    `sdf(object_index)`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        text_level: str = "random",
        hands: tuple[str, ...] | None = None,
        seed: int = 0,
        paraphrases: bool = True,
        partial_view_probability: float = 0.0,
    ) -> None:
        if split not in DATASET_SPLITS and split != "all":
            raise ValueError(f"unknown split '{split}'; use one of {DATASET_SPLITS} or 'all'")
        if text_level not in (*TEXT_LEVELS, "random"):
            raise ValueError(f"unknown text level '{text_level}'; use one of {TEXT_LEVELS} or 'random'")
        if not 0.0 <= partial_view_probability <= 1.0:
            raise ValueError(f"partial_view_probability must lie in [0, 1], got {partial_view_probability}")
        self.reader = DatasetReader(root)
        if partial_view_probability > 0:
            without = [o["object_id"] for o in self.reader.objects if not o["views"]]
            if without:
                raise ValueError(
                    f"partial views were asked for, but {len(without)} objects have none stored (e.g. {without[0]}); "
                    "build with views (BuildConfig.views) or use partial_view_probability=0"
                )
        unknown = set(hands or ()) - set(self.reader.hands)
        if unknown:
            raise ValueError(f"hands {sorted(unknown)} are not in this data set (it has {self.reader.hands})")
        keep = np.ones(len(self.reader), bool) if split == "all" else self.reader.grasp_split() == split
        if hands is not None:
            keep &= np.isin(self.reader.grasp_hand, [self.reader.hands.index(h) for h in hands])
        self.indices = np.flatnonzero(keep)
        self.text_level = text_level
        self.paraphrases = paraphrases
        self.partial_view_probability = partial_view_probability
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw text levels, wordings and views afresh for another epoch (as DistributedSampler.set_epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Any]:
        index = int(self.indices[item])
        r = self.reader
        rng = np.random.default_rng([self.seed, self.epoch, index])
        object_index = int(r.grasp_object[index])
        arrays = r.object_arrays(object_index)
        level = self.text_level
        if level == "random":
            level = TEXT_LEVELS[rng.integers(len(TEXT_LEVELS))]
        wordings = r.paraphrases(index)[level]
        prompt = wordings[rng.integers(len(wordings))] if self.paraphrases else wordings[0]
        view = -1
        points, normals, parts = arrays["points"], arrays["normals"], arrays["point_parts"]
        nearest = slice(None)  # which full-cloud points' features the cloud's points take
        if rng.random() < self.partial_view_probability:
            view = int(rng.integers(len(arrays["view_points"])))
            points, normals = arrays["view_points"][view], arrays["view_normals"][view]
            parts, nearest = arrays["view_point_parts"][view], np.asarray(arrays["view_nearest"][view])
        out = {
            "prompt": prompt,
            "text_level": level,
            "hand": r.hands[int(r.grasp_hand[index])],
            "object_id": r.objects[object_index]["object_id"],
            "object_index": object_index,
            "view": view,
            "object_points": torch.from_numpy(np.array(points, np.float32)),
            "object_normals": torch.from_numpy(np.array(normals, np.float32)),
            "part_labels": torch.from_numpy(np.array(parts, np.int64)),
            "x": torch.from_numpy(np.array(r.grasp_x(index), np.float32)),
            "finger_part": torch.from_numpy(r.finger_part[index].astype(np.int64)),
            "finger_distance_m": torch.from_numpy(r.finger_distance_m[index].astype(np.float32)),
        }
        if "semantic" in arrays:
            out["semantic"] = torch.from_numpy(np.array(arrays["semantic"][nearest], np.float32))
        return out

    def sdf(self, object_index: int) -> SDFGrid:
        """The object's signed-distance grid (metres, negative inside), differentiable at any points."""
        arrays = self.reader.object_arrays(object_index)
        return SDFGrid(
            values=torch.from_numpy(np.array(arrays["sdf"])),
            bounds_m=torch.from_numpy(np.array(arrays["sdf_bounds_m"])),
        )
