"""Seconds per grasp of each `flash eval` protocol (MuJoCo on the CPU, one process).

    nice .venv/bin/python benchmarks/bench_eval.py [--repeats 3] [--dataset DIR --split all --limit 8]

Without --dataset it times the packaged LEAP cylinder grasps (tests/training/eval/data), each also moved 1 cm
off (a grasp that fails, which can stop early); with --dataset, grasps of that data set. Scene compilation is
timed apart (once per (hand, object) chunk). The 1-minute load average is recorded: the machine is shared, so
compare rows of one run rather than runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from flash_training.eval.cases import GraspCase
from flash_training.eval.convex import convex_pieces
from flash_training.eval.dataset_input import read_dataset
from flash_training.eval.grasp_file import read_grasp_file
from flash_training.eval.protocols import run_force_closure, run_lift
from flash_training.eval.runner import approach_directions, grasp_pose
from flash_training.eval.scene import GraspScene
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "bench_eval.json"
GOOD = ROOT / "tests" / "training" / "eval" / "data" / "leap_cylinder_good.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset")
    parser.add_argument("--split", default="all")
    parser.add_argument("--limit", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.dataset:
        inputs = read_dataset(args.dataset, args.split, args.limit)
        source = f"{args.dataset} ({args.split}, {len(inputs.cases)} grasps)"
    else:
        inputs = read_grasp_file(GOOD)
        off = [replace(c, index=c.index + 100, x=np.concatenate([c.x[:3] + [0.0, 0.0, 0.01], c.x[3:]]))
               for c in inputs.cases]
        inputs = replace(inputs, cases=[*inputs.cases, *off])
        source = "packaged LEAP cylinder grasps, as given and moved 1 cm"
    approach = approach_directions({c.hand for c in inputs.cases})
    compile_s, times = [], {"lift": [], "force": []}
    outcomes = {"lift": [], "force": []}
    for (hand, key) in sorted({(c.hand, c.object_key) for c in inputs.cases}):
        mesh = inputs.objects[key].mesh
        pieces = convex_pieces(mesh)
        start = time.perf_counter()
        scene = GraspScene(hand, mesh, pieces)
        compile_s.append(time.perf_counter() - start)
        cases: list[GraspCase] = [c for c in inputs.cases if (c.hand, c.object_key) == (hand, key)]
        for case in cases:
            pose = grasp_pose(case.x, case.up_in_object, approach[hand])
            for name, run in (("lift", run_lift), ("force", run_force_closure)):
                runs = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    result = run(scene, pose)
                    runs.append(time.perf_counter() - start)
                times[name].append(float(np.median(runs)))
                outcomes[name].append(result.success)
    table = Table(title=f"flash eval, seconds per grasp ({source})")
    for column in ("protocol", "grasps", "median s", "p90 s", "held"):
        table.add_column(column)
    rows = {}
    for name, values in times.items():
        rows[name] = {"grasps": len(values), "median_s": float(np.median(values)),
                      "p90_s": float(np.percentile(values, 90)), "held": int(sum(outcomes[name]))}
        table.add_row(name, str(len(values)), f"{rows[name]['median_s']:.3f}", f"{rows[name]['p90_s']:.3f}",
                      str(rows[name]["held"]))
    table.add_row("scene compile", str(len(compile_s)), f"{np.median(compile_s):.3f}", "-", "-")
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "source": source, "repeats": args.repeats, "protocols": rows,
        "scene_compile_s": float(np.median(compile_s)), "load_average_1min": os.getloadavg()[0],
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
