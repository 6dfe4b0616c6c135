"""Importing grasps (`flash dataset build --import`): what refinement does to perturbed DexGraspNet-format grasps
and what it costs per grasp.

    .venv/bin/python benchmarks/grasp_import.py [--objects mug_000 bottle_000 hammer_000 box_000] [--grasps 32]

No downloaded data set is needed: Allegro grasps are synthesised on procedural objects, pushed `--push-mm` into
the object along the palm normal with a little rotation and joint noise (imported grasps that penetrate), and
written as DexGraspNet config-dict files next to their meshes (moved and scaled as such files are). The
timed part is the import build itself (mesh processing, refinement with the default REFINE_CONFIG, measuring,
labelling, storage). Prints a table and writes benchmarks/results/grasp_import.json; wall times on a shared
machine are noisy, read the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import trimesh
from flash_training.assess import AssessedObject, assess_grasps
from flash_training.data.build import PRESETS, build_dataset
from flash_training.data.grasp_formats import save_dexgraspnet
from flash_training.data.grasp_import import ImportSpec
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import process_object
from flash_training.data.storage import DatasetReader
from flash_training.data.synthesis import synthesize_grasps
from rich.console import Console
from rich.table import Table

from flash_core.geometry.rotations import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from flash_core.hands import make_hand

SCALE = 0.8  # the files store meshes at 1/0.8 size, as DexGraspNet's scaled objects


def write_download(root: Path, names: list[str], grasps: int, push_m: float, seed: int) -> int:
    """DexGraspNet-format files and meshes for the procedural objects `names` (the import's input); returns how
    many of the grasps passed the acceptance test before they were perturbed (the ceiling for refinement)."""
    config = PRESETS["mini"]
    hand = make_hand("allegro")
    generator = torch.Generator().manual_seed(seed)
    (root / "dexgraspnet").mkdir(parents=True)
    passing = 0
    for k, name in enumerate(names):
        obj = process_object(ProceduralSource(1).load(name), config.processing)
        result = synthesize_grasps(
            hand, obj.sdf, obj.points, obj.normals, grasps, config.synthesis, seed=seed + k, grid=obj.sdf_grid
        )
        x = result.optimized.clone()
        passing += int(assess_grasps(hand, x, AssessedObject.from_processed(obj), config.acceptance).accepted.sum())
        rotation = rot6d_to_matrix(x[:, 3:9])
        x[:, :3] += push_m * (rotation @ hand.palm_frame().normal)
        wobble = axis_angle_to_matrix(torch.randn(len(x), 3, generator=generator, dtype=x.dtype) * 0.03)
        x[:, 9:] += torch.randn(len(x), 16, generator=generator, dtype=x.dtype) * 0.05
        code = f"core-{name.split('_')[0]}-{k:032x}"
        mesh = obj.asset.mesh.copy()
        mesh.apply_scale(1 / SCALE)
        (root / "meshdata" / code / "coacd").mkdir(parents=True)
        mesh.export(root / "meshdata" / code / "coacd" / "decomposed.obj")
        x[:, 3:9] = matrix_to_rot6d(wobble @ rotation)
        save_dexgraspnet(root / "dexgraspnet", code, SCALE, x)
    return passing


def refinement_moves(reader: DatasetReader, download: Path) -> tuple[np.ndarray, np.ndarray]:
    """How far each kept grasp moved from the imported one it came from: wrist translation (mm) and mean joint
    change (rad), matched to the nearest imported grasp of its object in the file's frame."""
    shift_mm, joint_change = [], []
    for index, obj in enumerate(reader.objects):
        stem = obj["object_id"].split("/", 1)[1]
        imported = np.load(download / "dexgraspnet" / f"{stem}.npy", allow_pickle=True).item()
        mesh = trimesh.load(download / "meshdata" / stem.rsplit("_", 1)[0] / "coacd" / "decomposed.obj", force="mesh")
        mesh.apply_scale(SCALE)
        kept = np.stack([reader.grasp_x(i) for i in np.flatnonzero(reader.grasp_object == index)])
        kept[:, :3] += mesh.bounding_box.centroid  # back into the file's frame
        distance = np.linalg.norm(kept[:, None, :3] - imported["trans"][None], axis=-1)  # (kept, imported)
        nearest = distance.argmin(1)
        shift_mm += list(distance.min(1) * 1000)
        joint_change += list(np.abs(kept[:, 9:] - imported["joint_angles"][nearest]).mean(1))
    return np.array(shift_mm), np.array(joint_change)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", nargs="+", default=["mug_000", "bottle_000", "hammer_000", "box_000"])
    parser.add_argument("--grasps", type=int, default=32, help="imported grasps per object")
    parser.add_argument("--push-mm", type=float, default=4.0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        unperturbed = write_download(root / "download", args.objects, args.grasps, args.push_mm / 1000, seed=0)
        config = replace(
            PRESETS["mini"],
            sources=(),
            imports=(ImportSpec("dexgraspnet", str(root / "download"), str(root / "download" / "meshdata")),),
            hands=("allegro",),
            semantic=None,
        )
        load = os.getloadavg()[0]
        start = time.perf_counter()
        build_dataset(root / "data", config)
        seconds = time.perf_counter() - start
        reader = DatasetReader(root / "data")
        stats = reader.unit_stats().values()
        shift_mm, joint_change = refinement_moves(reader, root / "download")

    refined = sum(s["candidates"] for s in stats)
    cat = lambda stage, key: np.concatenate([s[stage][key] for s in stats]) * 1000  # noqa: E731
    results = {
        "objects": len(stats),
        "grasps_refined": refined,
        "passing_before_perturbation": unperturbed,
        "passing_as_imported": sum(s["passing_before"] for s in stats),
        "kept_after_refinement": sum(s["kept"] for s in stats),
        "rejected": dict(sum((Counter(s["rejected"]) for s in stats), Counter())),
        "kept_translation_shift_mm_median": round(float(np.median(shift_mm)), 2),
        "kept_translation_shift_mm_max": round(float(np.max(shift_mm)), 2),
        "kept_joint_change_rad_median": round(float(np.median(joint_change)), 3),
        "build_s": round(seconds, 1),
        "build_s_per_grasp": round(seconds / refined, 3),
        "load_average_1min": round(load, 2),
    }
    for key in ("max_penetration_m", "contact_distance_m"):
        for stage in ("before", "after"):
            values = cat(stage, key)
            results[f"{key[:-2]}_mm_{stage}_median"] = round(float(np.median(values)), 2)
            results[f"{key[:-2]}_mm_{stage}_p95"] = round(float(np.percentile(values, 95)), 2)

    table = Table(title=f"grasp import: {refined} Allegro grasps on {len(stats)} objects, pushed {args.push_mm} mm")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, str(value))
    Console().print(table)
    out = Path(__file__).parent / "results" / "grasp_import.json"
    out.write_text(json.dumps({"command": "benchmarks/grasp_import.py", "args": vars(args), **results}, indent=1))


if __name__ == "__main__":
    main()
