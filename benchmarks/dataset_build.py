"""FLASH-Drive build costs on this machine: per-object processing, semantic features, partial views, one
optimisation step (SDF grid vs exact mesh SDF) and one whole grasp unit.

    .venv/bin/python benchmarks/dataset_build.py [--candidates 40] [--repeats 5]

Prints a table and writes benchmarks/results/dataset_build.json. Wall times on a shared machine are noisy:
compare the ratios measured within one run, and read the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from flash_training.assess import AssessedObject, assess_grasps
from flash_training.data.build import PRESETS
from flash_training.data.grasp_energy import EnergyWeights, grasp_energy, measure_grasps
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import process_object
from flash_training.data.refine import surface_samples
from flash_training.data.semantic import Dinov2Features, semantic_point_features
from flash_training.data.synthesis import initial_poses, synthesize_grasps
from flash_training.data.views import render_partial_views
from rich.console import Console
from rich.table import Table

from flash_core.hands import make_hand


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: kernel compilation, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    config = PRESETS["mini"]
    asset = ProceduralSource(1).load("mug_000")
    results: dict[str, float] = {}
    results["process_object_s"] = median_seconds(lambda: process_object(asset, config.processing), args.repeats)
    obj = process_object(asset, config.processing)
    encoder = Dinov2Features(config.semantic)
    results["semantic_features_s"] = median_seconds(
        lambda: semantic_point_features(obj.asset.mesh, obj.points, config.semantic, encoder), args.repeats
    )

    results["partial_views_s"] = median_seconds(
        lambda: render_partial_views(
            obj.asset.mesh, config.processing.num_points, config.views, face_parts=obj.asset.face_parts,
            full_points=obj.points, sdf=obj.sdf,
        ),
        args.repeats,
    )

    hand = make_hand("leap")
    generator = torch.Generator().manual_seed(0)
    pick = torch.randint(len(obj.points), (args.candidates,), generator=generator)
    x = initial_poses(
        hand,
        hand.palm_frame(),
        torch.as_tensor(obj.points[pick]),
        torch.as_tensor(obj.normals[pick]),
        config.synthesis,
        generator,
    )
    x = x.requires_grad_(True)
    object_points = surface_samples(obj.sdf, config.synthesis.optimizer.object_points).float()

    def step(field):
        measures = lambda: measure_grasps(hand, x, field, object_points, 0.001)  # noqa: E731
        return lambda: grasp_energy(measures(), EnergyWeights()).sum().backward()

    # Interleaved, so both see the same background load.
    grid_times, exact_times = [], []
    for _ in range(args.repeats):
        grid_times.append(median_seconds(step(obj.sdf_grid), 1))
        exact_times.append(median_seconds(step(obj.sdf), 1))
    results["step_grid_s"] = sorted(grid_times)[len(grid_times) // 2]
    results["step_exact_s"] = sorted(exact_times)[len(exact_times) // 2]
    start = time.perf_counter()
    cpu_start = time.process_time()
    result = synthesize_grasps(
        hand, obj.sdf, obj.points, obj.normals, args.candidates, config.synthesis, grid=obj.sdf_grid
    )
    results["unit_synthesis_s"] = time.perf_counter() - start
    results["unit_synthesis_cpu_s"] = time.process_time() - cpu_start
    assessment = assess_grasps(hand, result.optimized.detach(), AssessedObject.from_processed(obj))
    results["unit_accepted"] = int(assessment.accepted.sum())
    results["load_average_1min"] = os.getloadavg()[0]
    results["candidates"] = args.candidates

    table = Table(title=f"FLASH-Drive build costs (mini preset, mug, LEAP, {args.candidates} candidates)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in results.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    table.add_row("step exact / grid", f"{results['step_exact_s'] / results['step_grid_s']:.1f}x")
    Console().print(table)
    out = Path("benchmarks/results/dataset_build.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
