"""Allegro -> LEAP retargeting of imported grasps: fingertip residuals, and how many LEAP grasps survive refinement
and the acceptance test next to the Allegro originals.

    .venv/bin/python benchmarks/retarget.py [--objects mug_000 bottle_000 hammer_000 box_000] [--grasps 32]

The grasps are the import benchmark's (benchmarks/grasp_import.py: Allegro grasps synthesised on procedural
objects, pushed `--push-mm` into them, written as DexGraspNet files). Three measurements:
1. `retarget_grasps` alone on all imported grasps (default RetargetConfig): residuals and seconds per grasp;
2. the import build with hands allegro + leap: kept fraction per hand, rejection reasons;
3. the same build for LEAP with `RetargetConfig(steps=0)` (palm-aligned wrist + joint-for-joint map only), to
   show what the optimisation adds.
Prints a table and writes benchmarks/results/retarget.json; read the load average printed with the times.
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
from flash_training.data.build import PRESETS, build_dataset
from flash_training.data.grasp_import import ImportedGraspSource, ImportSpec
from flash_training.data.storage import DatasetReader
from grasp_import import write_download  # the import benchmark's grasps (benchmarks/ is the script's path)
from rich.console import Console
from rich.table import Table

from flash_core.hands import make_hand
from flash_core.hands.retarget import RetargetConfig, retarget_grasps


def per_hand(reader: DatasetReader) -> dict[str, dict]:
    """Refined / kept / rejection reasons per hand, and LEAP's retargeting residuals from the unit statistics."""
    hands: dict[str, dict] = {}
    for unit, stats in reader.unit_stats().items():
        row = hands.setdefault(unit.rsplit("|", 1)[1], {"refined": 0, "passing_as_imported": 0, "kept": 0,
                                                         "rejected": Counter(), "residual_mm": []})
        row["refined"] += stats["candidates"]
        row["passing_as_imported"] += stats["passing_before"]
        row["kept"] += stats["kept"]
        row["rejected"].update(stats["rejected"])
        row["residual_mm"] += stats.get("retargeted", {}).get("fingertip_error_mm", [])
    for row in hands.values():
        row["kept_fraction"] = round(row["kept"] / row["refined"], 3)
        row["rejected"] = dict(row["rejected"])
        residual = np.array(row.pop("residual_mm"))
        if len(residual):
            row["residual_mm_median"] = round(float(np.median(residual)), 2)
            row["residual_mm_p95"] = round(float(np.percentile(residual, 95)), 2)
    return hands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", nargs="+", default=["mug_000", "bottle_000", "hammer_000", "box_000"])
    parser.add_argument("--grasps", type=int, default=32, help="imported grasps per object")
    parser.add_argument("--push-mm", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (2 threads on a loaded 2-core "
                        "machine run these small batches many times slower than 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = {"load_average_1min_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_download(root / "download", args.objects, args.grasps, args.push_mm / 1000, seed=0)
        spec = ImportSpec("dexgraspnet", str(root / "download"), str(root / "download" / "meshdata"))

        # 1. retargeting alone
        source = ImportedGraspSource(spec)
        x = torch.cat([torch.as_tensor(source.load(n).grasps["allegro"].x) for n in source.names()])
        allegro, leap = make_hand("allegro"), make_hand("leap")
        start = time.perf_counter()
        result = retarget_grasps(allegro, leap, x)
        seconds = time.perf_counter() - start
        start_only = retarget_grasps(allegro, leap, x, RetargetConfig(steps=0))
        residual, start_residual = result.mean_fingertip_error_mm.numpy(), start_only.mean_fingertip_error_mm.numpy()
        results["retarget"] = {
            "grasps": len(x),
            "residual_mm_median": round(float(np.median(residual)), 2),
            "residual_mm_p95": round(float(np.percentile(residual, 95)), 2),
            "residual_mm_max": round(float(residual.max()), 2),
            "worst_finger_mm_max": round(float(result.fingertip_error_m.max()) * 1000, 2),
            "start_residual_mm_median": round(float(np.median(start_residual)), 2),
            "self_penetration_mm_max": round(float(leap.self_penetration(result.x).max()) * 1000, 3),
            "seconds": round(seconds, 2),
            "ms_per_grasp": round(seconds / len(x) * 1000, 1),
        }

        # 2. and 3. the import build
        config = replace(PRESETS["mini"], sources=(), imports=(spec,), hands=("allegro", "leap"), semantic=None)
        start = time.perf_counter()
        build_dataset(root / "both", config)
        results["build_s_allegro_and_leap"] = round(time.perf_counter() - start, 1)
        results["build"] = per_hand(DatasetReader(root / "both"))
        build_dataset(root / "start_only", replace(config, hands=("leap",), retarget=RetargetConfig(steps=0)))
        results["build_start_only"] = per_hand(DatasetReader(root / "start_only"))
    results["load_average_1min_end"] = round(os.getloadavg()[0], 2)

    table = Table(title=f"Allegro -> LEAP: {len(x)} imported grasps on {len(args.objects)} objects, "
                  f"pushed {args.push_mm} mm, {args.threads} thread(s)")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in results["retarget"].items():
        table.add_row(f"retarget: {key}", str(value))
    for name in ("build", "build_start_only"):
        for hand, row in results[name].items():
            for key, value in row.items():
                table.add_row(f"{name} {hand}: {key}", str(value))
    for key in ("build_s_allegro_and_leap", "load_average_1min_start", "load_average_1min_end"):
        table.add_row(key, str(results[key]))
    Console().print(table)
    out = Path(__file__).parent / "results" / "retarget.json"
    out.write_text(json.dumps({"command": "benchmarks/retarget.py", "args": vars(args), **results}, indent=1))


if __name__ == "__main__":
    main()
