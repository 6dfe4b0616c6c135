"""CoACD convex decomposition of YCB meshes: time and shape fidelity against its search settings.

    .venv/bin/python benchmarks/bench_convex.py [--objects 025_mug 035_power_drill 048_hammer] [--samples 100000]

The FLASH-Drive build's simulated stage decomposes every mesh once (`flash_training.eval.convex`, cached); on YCB
meshes CoACD's defaults take over a minute each and are the largest single cost of a cold default build. Each
object is processed as the build does (repaired, water-tight, normalised), then decomposed once per setting,
uncached (the cache is bypassed, never written). Fidelity of the pieces' union against the mesh:
- IoU: of the volumes, from `--samples` points uniform in the mesh's bounding box (inside the mesh: trimesh's
  winding-number sign on the water-tight mesh; inside the union: inside any piece's hull by its facet planes);
- bulge mm: how far the union's surface stands out of the mesh (distance to the mesh of the hull-surface points
  outside it; p95 and max over 2,000 points per piece), which is where a simulated finger would touch air.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import trimesh
from flash_training.data.objects.ycb import YcbSource
from flash_training.data.processing import ProcessingConfig, process_object
from flash_training.eval import convex
from flash_training.eval.convex import ConvexConfig
from rich.console import Console
from rich.table import Table

from flash_core.geometry.sdf import MeshSDF

RESULTS = Path(__file__).resolve().parent / "results" / "bench_convex.json"
SETTINGS = {
    "CoACD defaults": ConvexConfig(),
    "iterations 60": ConvexConfig(mcts_iterations=60),
    "iterations 60, depth 2": ConvexConfig(mcts_iterations=60, mcts_max_depth=2),
    "iterations 30, nodes 10, depth 2": ConvexConfig(mcts_iterations=30, mcts_nodes=10, mcts_max_depth=2),
}


def fidelity(mesh: trimesh.Trimesh, pieces: convex.ConvexPieces, samples: int, rng: np.random.Generator) -> dict:
    """IoU of the union of the pieces' hulls with the (water-tight) mesh, and the union's bulge out of it (mm)."""
    sdf = MeshSDF.from_trimesh(mesh)
    hulls = [trimesh.convex.convex_hull(v) for v in pieces.vertices]
    low, high = mesh.bounds
    pad = 0.05 * (high - low)
    points = rng.uniform(low - pad, high + pad, (samples, 3))
    in_mesh = sdf.inside(torch.as_tensor(points)[None]).numpy()[0]
    in_union = np.zeros(samples, bool)
    for hull in hulls:
        # Inside a convex hull: behind every facet plane (normals point out).
        in_union |= ((points @ hull.face_normals.T - (hull.face_normals * hull.triangles[:, 0]).sum(1)) <= 0).all(1)
    iou = (in_mesh & in_union).sum() / max(1, (in_mesh | in_union).sum())
    surface = np.concatenate([hull.sample(2000, seed=int(rng.integers(1 << 31))) for hull in hulls])
    bulge_m = np.clip(sdf(torch.as_tensor(surface)[None]).numpy()[0], 0.0, None)  # > 0 outside the mesh
    return {"iou": float(iou), "bulge_p95_mm": float(np.percentile(bulge_m, 95) * 1e3),
            "bulge_max_mm": float(bulge_m.max() * 1e3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", nargs="+", default=["025_mug", "035_power_drill", "048_hammer"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--samples", type=int, default=100_000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    source = YcbSource(include=tuple(args.objects))
    rows = []
    for name in args.objects:
        mesh = process_object(source.load(name), ProcessingConfig()).asset.mesh
        for label in args.settings:
            config = replace(SETTINGS[label], seed=0)
            began = time.perf_counter()
            pieces = convex.decompose(mesh, config)
            seconds = time.perf_counter() - began
            row = {"object": name, "setting": label, "config": asdict(config), "seconds": seconds,
                   "pieces": len(pieces.vertices), **fidelity(mesh, pieces, args.samples, np.random.default_rng(0))}
            rows.append(row)
            print(json.dumps(row), flush=True)
    table = Table(title=f"CoACD on YCB meshes (1-min load at start {load:.1f}, {os.cpu_count()} cores)")
    for column in ("object", "setting", "time s", "pieces", "IoU", "bulge p95 mm", "bulge max mm"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["object"], row["setting"], f"{row['seconds']:.1f}", str(row["pieces"]), f"{row['iou']:.3f}",
                      f"{row['bulge_p95_mm']:.2f}", f"{row['bulge_max_mm']:.2f}")
    Console(width=160).print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"load_average_1min": load, "cpu_count": os.cpu_count(), "rows": rows}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
