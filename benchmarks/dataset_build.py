"""FLASH-Drive build costs on this machine, per object and per (object, hand) unit of today's pipeline, and the
default preset's build time predicted from them.

Per object: processing (repair, FPS points, exact SDF, SDF grid), semantic features (untrained DINOv2 stand-in
unless the build is given weights), partial views, and CoACD's convex decomposition for the simulated stage, cold
(an empty cache) and cached (`flash_training.eval.convex.convex_pieces` reads it from disk).
Per unit, with the default preset's settings: approach-and-close synthesis (candidates x oversample tries),
acceptance (`assess_grasps`) and the simulated stage (protocol (b) on every accepted candidate: the preset keeps up
to 20 grasps that hold and makes 16 candidates, so the stage simulates them all).

    .venv/bin/python benchmarks/dataset_build.py [--objects procedural:mug_000,ycb:025_mug,pybullet_random:000]
        [--hands leap,allegro] [--candidates 16]

Prints a table and writes benchmarks/results/dataset_build.json. The prediction sums, over the default preset's
object kinds, objects x (object cost + one unit per hand) and divides by the `--ray` workers (the build's units are
independent). Wall times on a shared machine are noisy: read the load average printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from flash_training.assess import AssessedObject, assess_grasps
from flash_training.data.build import PRESETS
from flash_training.data.objects import make_object_source
from flash_training.data.processing import process_object
from flash_training.data.semantic import Dinov2Features, semantic_point_features
from flash_training.data.synthesis import synthesize_grasps
from flash_training.data.views import render_partial_views
from flash_training.eval.convex import convex_pieces
from flash_training.eval.protocols import run_force_closure
from flash_training.eval.runner import approach_directions, grasp_pose
from flash_training.eval.scene import GraspScene
from rich.console import Console
from rich.table import Table

from flash_core.hands import make_hand


def seconds(fn):
    """(result, wall seconds) of one call."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def cold_convex_pieces(mesh):
    """CoACD on `mesh` with an empty convex cache (only that cache: the hand assets stay where they are)."""
    before = os.environ.get("FLASH_CACHE_DIR")
    with tempfile.TemporaryDirectory() as empty:
        os.environ["FLASH_CACHE_DIR"] = empty
        try:
            return convex_pieces(mesh)
        finally:
            os.environ.pop("FLASH_CACHE_DIR") if before is None else os.environ.__setitem__("FLASH_CACHE_DIR", before)


def measure_object(kind: str, name: str, hands: list[str], candidates: int) -> dict:
    config = PRESETS["default"]
    asset = make_object_source(kind).load(name)
    row: dict = {"object": f"{kind}:{name}", "kind": kind}
    obj, row["process_s"] = seconds(lambda: process_object(asset, replace(config.processing, seed=config.seed)))
    encoder = Dinov2Features(config.semantic)
    _, row["semantic_s"] = seconds(lambda: semantic_point_features(obj.asset.mesh, obj.points, config.semantic,
                                                                   encoder))
    _, row["views_s"] = seconds(lambda: render_partial_views(
        obj.asset.mesh, config.processing.num_points, config.views, face_parts=obj.asset.face_parts,
        full_points=obj.points, sdf=obj.sdf))
    _, row["convex_cold_s"] = seconds(lambda: cold_convex_pieces(obj.asset.mesh))
    convex_pieces(obj.asset.mesh)  # into this machine's cache, as a build leaves it
    pieces, row["convex_cached_s"] = seconds(lambda: convex_pieces(obj.asset.mesh))
    row["convex_pieces"] = len(pieces.vertices)
    target = AssessedObject.from_processed(obj)
    for hand_name in hands:
        hand = make_hand(hand_name)
        # Warm-up (once per hand and process in a build): the hand's collision geometry and MuJoCo model.
        synthesize_grasps(hand, obj.sdf, obj.points, obj.normals, 1, replace(config.synthesis, oversample=1),
                          grid=obj.sdf_grid)
        synthesis, row[f"{hand_name}_synthesis_s"] = seconds(lambda: synthesize_grasps(
            hand, obj.sdf, obj.points, obj.normals, candidates, config.synthesis, seed=0, grid=obj.sdf_grid))
        x = synthesis.optimized.detach()
        assessment, row[f"{hand_name}_acceptance_s"] = seconds(lambda: assess_grasps(hand, x, target,
                                                                                     config.acceptance))
        passing = np.flatnonzero(assessment.accepted)
        start = time.perf_counter()
        scene = GraspScene(hand_name, obj.asset.mesh, pieces)
        approach = approach_directions({hand_name})[hand_name]
        held = 0
        for i in passing:
            pose = grasp_pose(x[i].cpu().numpy().astype(np.float64), np.array([0.0, 0.0, 1.0]), approach)
            depths = (float(assessment.max_penetration_m[i]), float(assessment.self_penetration_m[i]))
            held += run_force_closure(scene, pose, depths_m=depths).success
        row[f"{hand_name}_stage_s"] = time.perf_counter() - start
        row[f"{hand_name}_accepted"], row[f"{hand_name}_held"] = len(passing), held
        row[f"{hand_name}_unit_s"] = sum(row[f"{hand_name}_{k}_s"] for k in ("synthesis", "acceptance", "stage"))
    row["object_s"] = row["process_s"] + row["semantic_s"] + row["views_s"] + row["convex_cold_s"]
    return row


def predicted_default_s(rows: list[dict], hands: list[str], workers: int, unit_scale: float = 1.0) -> float | None:
    """The default preset's wall time from the measured rows: per object kind of the preset, its object count x
    (the mean object cost + the mean unit cost per hand x `unit_scale`, e.g. 0.5 for half the candidates: a unit's
    synthesis, acceptance and simulated stage grow with its candidates) of the measured objects of that kind; None
    when a kind of the preset was not measured."""
    config = PRESETS["default"]
    total = 0.0
    for source in config.sources:
        measured = [r for r in rows if r["kind"] == source.kind]
        if not measured:
            return None
        count = len(make_object_source(source.kind, **source.options).names()[: source.limit])
        per_object = np.mean([r["object_s"] + unit_scale * sum(r[f"{h}_unit_s"] for h in hands) for r in measured])
        total += count * per_object
    return total / workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default="procedural:mug_000,ycb:025_mug,pybullet_random:000",
                        help="comma-separated kind:name (one of each of the default preset's kinds to predict it)")
    parser.add_argument("--hands", default="leap,allegro")
    parser.add_argument("--candidates", type=int, default=PRESETS["default"].candidates_per_hand)
    parser.add_argument("--workers", type=int, default=2, help="--ray workers the prediction assumes")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the build runs (`--threads 1`): small tensors, shared cores
    hands = args.hands.split(",")
    rows = []
    for spec in args.objects.split(","):
        kind, name = spec.split(":", 1)
        rows.append(measure_object(kind, name, hands, args.candidates))
        print(json.dumps(rows[-1]), flush=True)
    prediction = predicted_default_s(rows, hands, args.workers)
    # Also per hand and at half the candidates: to set against a measured build of that size (docs/benchmarks.md).
    variants = {f"{h} x{c}": predicted_default_s(rows, h.split(","), args.workers, c / args.candidates)
                for h in [",".join(hands), *hands] for c in (args.candidates, args.candidates // 2)}
    results = {"rows": rows, "hands": hands, "candidates": args.candidates, "workers": args.workers,
               "predicted_default_s": prediction, "predicted_variants_s": variants,
               "load_average_1min": os.getloadavg()[0]}

    table = Table(title=f"FLASH-Drive build costs (default preset settings, {args.candidates} candidates per unit)")
    columns = ["process_s", "semantic_s", "views_s", "convex_cold_s", "convex_cached_s"]
    for hand in hands:
        columns += [f"{hand}_synthesis_s", f"{hand}_acceptance_s", f"{hand}_stage_s", f"{hand}_accepted",
                    f"{hand}_held"]
    table.add_column("measure")
    for row in rows:
        table.add_column(row["object"], justify="right")
    for column in columns:
        table.add_row(column, *(f"{r[column]:.2f}" if isinstance(r[column], float) else str(r[column])
                                for r in rows))
    Console().print(table)
    if prediction is not None:
        print(f"default preset, {', '.join(hands)}, {args.workers} workers: predicted {prediction / 60:.0f} min "
              f"(load average {results['load_average_1min']:.1f}); "
              + ", ".join(f"{k} candidates {v / 60:.0f} min" for k, v in variants.items() if v is not None))
    out = Path("benchmarks/results/dataset_build.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
