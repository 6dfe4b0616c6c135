"""The command-line arguments shared by the benchmarks that probe a trained model's grasps (flow_commitment,
penetration_source): which model, how many grasps, the Euler steps, the seed, the threads and the JSON written."""

from __future__ import annotations

import argparse
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def add_model_arguments(parser: argparse.ArgumentParser, *, grasps: int, result_name: str) -> None:
    parser.add_argument("--checkpoint", type=Path, help="model folder (default: the packaged default model)")
    parser.add_argument("--grasps", type=int, default=grasps, help="grasps per goal")
    parser.add_argument("--steps", type=int, default=16, help="Euler steps of the flow")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / result_name, help="JSON written")
