"""Re-assess the stored grasps of a FLASH-Drive data set with today's `assess_grasps`: the share that meets the
dense penetration and self-collision bars, per hand, whatever acceptance test the build itself used.

    nice .venv/bin/python benchmarks/reassess_dataset.py data/tiny [--name tiny-after]

Objects are rebuilt from their sources with the build's own processing settings and checked against the stored
points (`flash_training.eval.dataset_input`). Prints a table and writes benchmarks/results/reassess_<name>.json,
with the build report's candidate and kept counts (the acceptance rate) beside the figures.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from flash_training.assess import AcceptanceConfig, AssessedObject, assess_grasps
from flash_training.data.storage import DatasetReader
from flash_training.eval.dataset_input import read_dataset
from rich.console import Console
from rich.table import Table

from flash_core.hands import make_hand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="data set folder")
    parser.add_argument("--name", help="results name (default: the folder's name)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = AcceptanceConfig()
    data = read_dataset(args.root, "all")
    hands = {name: make_hand(name) for name in {case.hand for case in data.cases}}
    measured: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for key, obj in data.objects.items():
        target = AssessedObject.from_mesh(obj.mesh, obj.face_parts, obj.part_names)
        for hand_name, hand in hands.items():
            cases = [c for c in data.cases if c.object_key == key and c.hand == hand_name]
            if not cases:
                continue
            x = torch.as_tensor(np.stack([c.x for c in cases]), dtype=hand.dtype)
            a = assess_grasps(hand, x, target, config)
            row = measured[hand_name]
            row["penetration_m"] += a.max_penetration_m.tolist()
            row["self_penetration_m"] += a.self_penetration_m.tolist()
            row["accepted"] += a.accepted.tolist()
            row["objects"].append(key)
    stats = DatasetReader(args.root).unit_stats()
    results = {}
    for hand_name, row in sorted(measured.items()):
        pen, self_pen = np.array(row["penetration_m"]), np.array(row["self_penetration_m"])
        units = [s for unit, s in stats.items() if unit.endswith(f"|{hand_name}")]
        candidates, kept = sum(s["candidates"] for s in units), sum(s["kept"] for s in units)
        results[hand_name] = {
            "grasps": len(pen), "objects": len(set(row["objects"])),
            "penetration_under_2mm": round(float(np.mean(pen < config.max_penetration_m)), 4),
            "self_penetration_under_2mm": round(float(np.mean(self_pen < config.max_self_penetration_m)), 4),
            "both_under_2mm": round(float(np.mean((pen < config.max_penetration_m)
                                                  & (self_pen < config.max_self_penetration_m))), 4),
            "passes_todays_acceptance": round(float(np.mean(row["accepted"])), 4),
            "penetration_mm_median": round(float(np.median(pen) * 1000), 3),
            "penetration_mm_p95": round(float(np.percentile(pen, 95) * 1000), 3),
            "self_penetration_mm_max": round(float(self_pen.max() * 1000), 3),
            "candidates": candidates, "kept": kept,
            "kept_per_candidate": round(kept / candidates, 4) if candidates else None,
            "passing_per_candidate": round(sum(s["passing"] for s in units) / candidates, 4) if candidates else None,
        }
    table = Table(title=f"stored grasps of {args.root}, re-assessed (dense penetration, MuJoCo self-collision)")
    columns = ("grasps", "penetration_under_2mm", "self_penetration_under_2mm", "both_under_2mm",
               "penetration_mm_p95", "self_penetration_mm_max", "passing_per_candidate", "kept_per_candidate")
    table.add_column("hand")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for hand_name, r in results.items():
        table.add_row(hand_name, *(str(r[c]) for c in columns))
    Console().print(table)
    out = Path(f"benchmarks/results/reassess_{args.name or Path(args.root).name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"root": str(args.root), "hands": results}, indent=1))
    Console().print(f"wrote {out}")


if __name__ == "__main__":
    main()
