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
    object_points (N, 3) float32, object_normals (N, 3) float32, part_labels (N,) int64,
    semantic (N, C) float32 (only when the object has features), x (25,) float32,
    finger_part (F_max,) int64 (-1: no contact), finger_distance_m (F_max,) float32.

    `text_level` is "low", "mid", "high" or "random" (a level drawn per item from a generator seeded with
    `seed` and the index, so an epoch is reproducible). The object's SDF grid is not in the item because it
    is shared by all grasps of the object: get it once with `sdf(object_index)`.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        text_level: str = "random",
        hands: tuple[str, ...] | None = None,
        seed: int = 0,
    ) -> None:
        if split not in DATASET_SPLITS and split != "all":
            raise ValueError(f"unknown split '{split}'; use one of {DATASET_SPLITS} or 'all'")
        if text_level not in (*TEXT_LEVELS, "random"):
            raise ValueError(f"unknown text level '{text_level}'; use one of {TEXT_LEVELS} or 'random'")
        self.reader = DatasetReader(root)
        unknown = set(hands or ()) - set(self.reader.hands)
        if unknown:
            raise ValueError(f"hands {sorted(unknown)} are not in this data set (it has {self.reader.hands})")
        keep = np.ones(len(self.reader), bool) if split == "all" else self.reader.grasp_split() == split
        if hands is not None:
            keep &= np.isin(self.reader.grasp_hand, [self.reader.hands.index(h) for h in hands])
        self.indices = np.flatnonzero(keep)
        self.text_level = text_level
        self.seed = seed

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Any]:
        index = int(self.indices[item])
        r = self.reader
        object_index = int(r.grasp_object[index])
        arrays = r.object_arrays(object_index)
        level = self.text_level
        if level == "random":
            level = TEXT_LEVELS[np.random.default_rng([self.seed, index]).integers(len(TEXT_LEVELS))]
        out = {
            "prompt": r.text(index)[level],
            "text_level": level,
            "hand": r.hands[int(r.grasp_hand[index])],
            "object_id": r.objects[object_index]["object_id"],
            "object_index": object_index,
            "object_points": torch.from_numpy(np.array(arrays["points"], np.float32)),
            "object_normals": torch.from_numpy(np.array(arrays["normals"], np.float32)),
            "part_labels": torch.from_numpy(np.array(arrays["point_parts"], np.int64)),
            "x": torch.from_numpy(np.array(r.grasp_x(index), np.float32)),
            "finger_part": torch.from_numpy(r.finger_part[index].astype(np.int64)),
            "finger_distance_m": torch.from_numpy(r.finger_distance_m[index].astype(np.float32)),
        }
        if "semantic" in arrays:
            out["semantic"] = torch.from_numpy(np.array(arrays["semantic"], np.float32))
        return out

    def sdf(self, object_index: int) -> SDFGrid:
        """The object's signed-distance grid (metres, negative inside), differentiable at any points."""
        arrays = self.reader.object_arrays(object_index)
        return SDFGrid(
            values=torch.from_numpy(np.array(arrays["sdf"])),
            bounds_m=torch.from_numpy(np.array(arrays["sdf_bounds_m"])),
        )
