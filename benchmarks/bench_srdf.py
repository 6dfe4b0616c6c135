"""SRDF disabled-collision pairs of the Gen3 + LEAP: cost and correctness against sample count and margin.

    .venv/bin/python benchmarks/bench_srdf.py [--samples 1000 10000 30000] [--margins 0 0.02] [--seeds 0 1]

For each margin, sample count and seed, times `disabled_collision_pairs` on the default-mount URDF and counts
the pairs per reason. "Never" is a sampling verdict. Reference: the pairs seen in contact (no margin) in any
run with the most samples; "wrong Never" counts a run's Never pairs that are in that set, i.e. pairs MoveIt
would stop checking although they do collide.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flash_core.planning import write_robot_description
from flash_core.planning.srdf import CollisionMatrixConfig, disabled_collision_pairs

RESULTS = Path(__file__).resolve().parent / "results" / "bench_srdf.json"
REASONS = ("Adjacent", "Default", "Always", "Never")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[1000, 10000, 30000])
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.02])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    load = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        urdf = write_robot_description(tmp)["urdf"]
        for margin in args.margins:
            for n in sorted(args.samples):
                for seed in args.seeds:
                    config = CollisionMatrixConfig(n_samples=n, seed=seed, never_margin_m=margin)
                    began = time.perf_counter()
                    pairs = disabled_collision_pairs(urdf, config, progress=False)
                    runs.append({"never_margin_m": margin, "n_samples": n, "seed": seed,
                                 "seconds": time.perf_counter() - began,
                                 "pairs": {f"{p.link1} {p.link2}": p.reason for p in pairs}})
                    print(f"margin {margin} samples {n} seed {seed}: {runs[-1]['seconds']:.1f} s", flush=True)
    contact_runs = [r for r in runs if r["never_margin_m"] == 0.0 and r["n_samples"] == max(args.samples)]
    table = Table(title=f"SRDF collision matrix, Gen3 + LEAP, default mount (1-min load {load:.1f}, "
                        f"{os.cpu_count()} cores; reference: contact in any {max(args.samples)}-sample run)")
    for column in ("margin m", "samples", "seed", "time s", *REASONS, "wrong Never"):
        table.add_column(column, justify="right")
    for run in runs:
        reasons = Counter(run["pairs"].values())
        never = {k for k, v in run["pairs"].items() if v == "Never"}
        # A pair some reference run keeps checking (absent) or calls Default/Always was seen in contact there.
        run["wrong_never"] = sorted(k for k in never if any(r["pairs"].get(k) != "Never" for r in contact_runs))
        table.add_row(f"{run['never_margin_m']:g}", str(run["n_samples"]), str(run["seed"]), f"{run['seconds']:.1f}",
                      *(str(reasons[r]) for r in REASONS), str(len(run["wrong_never"])))
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"load_average_1min": load, "cpu_count": os.cpu_count(), "runs": runs}, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
