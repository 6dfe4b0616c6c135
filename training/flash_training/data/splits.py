"""Object-level splits, so evaluation can ask "unseen object?" and "unseen category?" honestly.

Whole categories go to `unseen_category` first (those named in the config, and a hashed share of the others),
then a share of the remaining objects of each category goes to `unseen_object`; the rest is `train`. Within
`train` objects a share of grasps is held out as `seen` (same objects, grasps never trained on). Decisions hash the
names with a seed: they do not depend on build order, so a resumed build, or one split into parts, assigns every
object as a single uninterrupted build would.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

OBJECT_SPLITS = ("train", "unseen_object", "unseen_category")
DATASET_SPLITS = ("train", "seen", "unseen_object", "unseen_category")


@dataclass(frozen=True)
class SplitConfig:
    unseen_category_fraction: float = 0.15
    unseen_object_fraction: float = 0.15
    seen_grasp_fraction: float = 0.1  # grasps of training objects held out as the "seen objects" test
    seed: int = 0
    # Categories always held out whole, so a preset can promise its unseen-category test what it needs (e.g.
    # part-labelled categories, whose part-naming prompts then meet unseen shapes).
    unseen_categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("unseen_category_fraction", "unseen_object_fraction", "seen_grasp_fraction"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")


def _unit_hash(seed: int, *parts: str) -> float:
    """A stable number in [0, 1) for a name: the same on every machine and Python version."""
    return zlib.crc32("|".join((str(seed), *parts)).encode()) / 2**32


def object_split(object_id: str, category: str, config: SplitConfig) -> str:
    hashed = _unit_hash(config.seed, "category", category)
    if category in config.unseen_categories or hashed < config.unseen_category_fraction:
        return "unseen_category"
    if _unit_hash(config.seed, "object", object_id) < config.unseen_object_fraction:
        return "unseen_object"
    return "train"


def is_heldout_grasp(unit_key: str, row: int, config: SplitConfig) -> bool:
    """Whether grasp `row` of a training object's unit is held out for the "seen" test split."""
    return _unit_hash(config.seed, "grasp", unit_key, str(row)) < config.seen_grasp_fraction
