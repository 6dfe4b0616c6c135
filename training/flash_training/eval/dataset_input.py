"""Grasps of a FLASH-Drive data set (docs/dataset_format.md) as evaluation input, by split.

A data set stores each object's points, parts and SDF grid but not its mesh, and the simulator needs the mesh:
the object is rebuilt from its source with the build's own processing settings (the manifest's config), the
same code path the builder took, and then checked against the stored surface points (every stored point must
lie on the rebuilt surface within `max_surface_error_m`), so a source that changed since the build is refused
rather than judged on another shape. Objects imported with their grasps (`--import`) cannot be rebuilt here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from flash_training.eval.cases import EvalInput, EvalObject, GraspCase

MAX_SURFACE_ERROR_M = 5e-4


class DatasetObjectError(ValueError):
    """An object of the data set whose mesh cannot be rebuilt (the message says which and why)."""


def _processing_config(stored: dict):
    from flash_training.data.processing import ProcessingConfig

    from flash_core.geometry.mesh_repair import RepairConfig

    # Sampling and grid settings do not change the mesh; the smallest ones keep the rebuild cheap.
    return replace(ProcessingConfig(**{**stored, "repair": RepairConfig(**stored["repair"])}),
                   num_points=16, oversample=1, sdf_resolution=2)


def rebuild_object(manifest: dict, entry: dict, points: np.ndarray,
                   max_surface_error_m: float = MAX_SURFACE_ERROR_M) -> EvalObject:
    """The processed mesh of a stored object, rebuilt from its source and checked against its stored points."""
    from flash_training.data.objects import make_object_source
    from flash_training.data.processing import process_object

    object_id = entry["object_id"]
    kind, name = object_id.split("/", 1)
    specs = [s for s in manifest["config"]["sources"] if s["kind"] == kind]
    if not specs:
        raise DatasetObjectError(f"{object_id}: its source '{kind}' is not among the build's object sources "
                                 "(imported objects cannot be rebuilt for simulation)")
    config = manifest["config"]
    asset = make_object_source(kind, **specs[0]["options"]).load(name)
    processed = process_object(asset, replace(_processing_config(config["processing"]), seed=config["seed"]))
    mesh = processed.asset.mesh
    _, distance, _ = mesh.nearest.on_surface(np.asarray(points, np.float64))
    if distance.max() > max_surface_error_m:
        raise DatasetObjectError(f"{object_id}: the rebuilt mesh is {distance.max() * 1000:.2f} mm from the stored "
                                 "surface points; the object source changed since the build")
    return EvalObject(object_id, mesh, entry["category"], tuple(entry["part_names"]), processed.asset.face_parts)


def read_dataset(root: str | Path, split: str, limit: int | None = None, hands: tuple[str, ...] | None = None,
                 seed: int = 0) -> EvalInput:
    """The grasps of one split ("train", "seen", "unseen_object", "unseen_category" or "all") with their
    objects; `limit` draws that many grasps at random (seeded), spread over the split's objects."""
    from flash_training.data.splits import DATASET_SPLITS
    from flash_training.data.storage import DatasetReader

    if split not in (*DATASET_SPLITS, "all"):
        raise ValueError(f"unknown split '{split}'; use one of {DATASET_SPLITS} or 'all'")
    reader = DatasetReader(root)
    keep = np.ones(len(reader), bool) if split == "all" else reader.grasp_split() == split
    if hands:
        unknown = set(hands) - set(reader.hands)
        if unknown:
            raise ValueError(f"hands {sorted(unknown)} are not in this data set (it has {reader.hands})")
        keep &= np.isin(reader.grasp_hand, [reader.hands.index(h) for h in hands])
    indices = np.flatnonzero(keep)
    if not len(indices):
        raise ValueError(f"{root}: split '{split}' holds no grasps")
    if limit is not None and limit < len(indices):
        indices = np.sort(np.random.default_rng(seed).choice(indices, size=limit, replace=False))
    objects: dict[str, EvalObject] = {}
    cases = []
    for index in indices:
        entry = reader.objects[int(reader.grasp_object[index])]
        key = entry["object_id"]
        if key not in objects:
            points = reader.object_arrays(int(reader.grasp_object[index]))["points"]
            objects[key] = rebuild_object(reader.manifest, entry, points)
        prompt = reader.text(int(index))["high"]  # the goal ("Pick up the mug by its handle.")
        cases.append(GraspCase(
            index=int(index), hand=reader.hands[int(reader.grasp_hand[index])], object_key=key,
            x=np.asarray(reader.grasp_x(int(index)), np.float64),
            prompt=prompt[0] if isinstance(prompt, list) else prompt,  # format 2 keeps paraphrases per level
            split=str(reader.grasp_split()[index]),
        ))
    return EvalInput(objects=objects, cases=cases)
