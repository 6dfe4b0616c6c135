"""The grasp assessment (`flash_training.assess`): seconds per grasp, and how its penetration compares with dense
sampling of the same surfaces.

    nice .venv/bin/python benchmarks/bench_assess.py [--objects mug_000 hammer_000 bowl_000] [--candidates 56]

Per procedural object (the mini preset's kind) and hand: synthesise `--candidates` grasps with the mini preset's
settings, then time `assess_grasps` on them as one batch (seconds per grasp; the dense penetration's distance
queries per grasp) and report the acceptance verdicts. Then, for up to `--convergence` accepted and rejected
grasps, sample the two surfaces the penetration covers (the hand's collision surface, the object's surface)
uniformly by area at 1k ... 256k points and take the deepest sample: the columns show the sampled figure climbing
towards the assessment's, which branch and bound puts within the tolerance (0.1 mm) below the exact one, so no
sample may exceed it by more than that. Prints tables and writes benchmarks/results/bench_assess.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import trimesh
from flash_training.assess import AssessedObject, assess_grasps
from flash_training.data.build import PRESETS
from flash_training.data.objects import ProceduralSource
from flash_training.data.processing import process_object
from flash_training.data.synthesis import synthesize_grasps
from rich.console import Console
from rich.table import Table

from flash_core.hands import make_hand
from flash_core.hands.collision import hand_collision

DENSITIES = (1_000, 4_000, 16_000, 64_000, 256_000)


def sample_triangles(triangles: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` points uniform by area on triangles (T, 3, 3)."""
    area = np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    pick = rng.choice(len(triangles), count, p=area / area.sum())
    u, v = rng.random((2, count))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    a, b, c = triangles[pick, 0], triangles[pick, 1], triangles[pick, 2]
    return a + u[:, None] * (b - a) + v[:, None] * (c - a)


def sampled_penetration(hand, x: torch.Tensor, obj, count: int, seed: int = 0) -> float:
    """Deepest of `count` samples on the hand's collision surface (into the object) and `count` on the object's
    surface (into the hand's collision pieces), for one grasp x (1, 25); metres, >= 0."""
    collision = hand_collision(hand)
    rng = np.random.default_rng(seed)
    hand_points = sample_triangles(collision.surface_triangles(x)[0].double().numpy(), count, rng)
    hand_depth = -obj.sdf(torch.as_tensor(hand_points, dtype=hand.dtype)[None])[0]
    mesh = obj.asset.mesh
    object_points = sample_triangles(np.asarray(mesh.triangles), count, rng)
    object_depth = collision.depth_inside(x, torch.as_tensor(object_points, dtype=hand.dtype)[None])[0]
    return max(0.0, float(hand_depth.max()), float(object_depth.max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", nargs="+", default=["mug_000", "hammer_000", "bowl_000"])
    parser.add_argument("--hands", nargs="+", default=["leap", "allegro"])
    parser.add_argument("--candidates", type=int, default=56)
    parser.add_argument("--convergence", type=int, default=2, help="grasps per object and hand in the sampling table")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = PRESETS["mini"]
    console = Console()
    timing, convergence = [], []
    for name in args.objects:
        obj = process_object(ProceduralSource(1).load(name), config.processing)
        target = AssessedObject.from_processed(obj)
        for hand_name in args.hands:
            hand = make_hand(hand_name)
            hand_collision(hand)  # built once per hand kind; not part of the per-grasp cost
            x = synthesize_grasps(hand, obj.sdf, obj.points, obj.normals, args.candidates, config.synthesis,
                                  grid=obj.sdf_grid).optimized.detach()
            start = time.perf_counter()
            assessment = assess_grasps(hand, x, target, config.acceptance)
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            evaluations = hand_collision(hand).penetration(x, obj.sdf, config.acceptance.tolerance_m,
                                                           config.acceptance.exact_up_to_m).evaluations
            penetration_seconds = time.perf_counter() - start
            timing.append({
                "object": name, "hand": hand_name, "grasps": len(x),
                "seconds_per_grasp": round(seconds / len(x), 4),
                "penetration_seconds_per_grasp": round(penetration_seconds / len(x), 4),
                "distance_queries_per_grasp": round(evaluations / len(x)),
                "accepted": int(assessment.accepted.sum()),
                "penetration_under_2mm": int((assessment.max_penetration_m < 0.002).sum()),
                "self_penetration_under_2mm": int((assessment.self_penetration_m < 0.002).sum()),
                "rejected": dict(Counter(r for r in assessment.reasons if r)),
            })
            # The deepest accepted grasps and the deepest rejected ones measured exactly, so both regimes appear.
            depth = assessment.max_penetration_m
            accepted = np.flatnonzero(assessment.accepted)
            rejected = np.flatnonzero(~assessment.accepted & (depth < config.acceptance.exact_up_to_m))
            picks = [group[np.argsort(-depth[group])][: args.convergence] for group in (accepted, rejected)]
            for i in np.concatenate(picks):
                row = {"object": name, "hand": hand_name, "grasp": int(i),
                       "assessed_mm": round(float(assessment.max_penetration_m[i]) * 1000, 3)}
                for count in DENSITIES:
                    row[f"sampled_{count}_mm"] = round(sampled_penetration(hand, x[i:i + 1], obj, count) * 1000, 3)
                convergence.append(row)
            console.print(f"{name} {hand_name}: {timing[-1]}")

    table = Table(title=f"assess_grasps, mini-preset synthesis, {args.candidates} candidates, {args.threads} thread(s)")
    for column in ("object", "hand", "s / grasp", "penetration s / grasp", "queries / grasp", "accepted",
                   "pen < 2 mm", "self < 2 mm"):
        table.add_column(column)
    for r in timing:
        table.add_row(r["object"], r["hand"], f"{r['seconds_per_grasp']:.3f}",
                      f"{r['penetration_seconds_per_grasp']:.3f}", str(r["distance_queries_per_grasp"]),
                      f"{r['accepted']}/{r['grasps']}", str(r["penetration_under_2mm"]),
                      str(r["self_penetration_under_2mm"]))
    console.print(table)
    table = Table(title="penetration (mm): branch and bound vs the deepest of N uniform samples on both surfaces")
    for column in ("object", "hand", "grasp", "assessed") + tuple(f"{n // 1000}k" for n in DENSITIES):
        table.add_column(column)
    for r in convergence:
        table.add_row(r["object"], r["hand"], str(r["grasp"]), f"{r['assessed_mm']:.3f}",
                      *(f"{r[f'sampled_{n}_mm']:.3f}" for n in DENSITIES))
    console.print(table)
    out = Path("benchmarks/results/bench_assess.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"timing": timing, "convergence": convergence, "threads": args.threads,
                               "load_average_1min": os.getloadavg()[0],
                               "tolerance_m": config.acceptance.tolerance_m}, indent=1))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    trimesh.util.log.setLevel("ERROR")
    main()
