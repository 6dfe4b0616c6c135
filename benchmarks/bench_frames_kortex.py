"""Frames and the kortex worker: what a TF lookup and a kortex_api request cost the pick and grasp nodes.

    .venv/bin/python benchmarks/bench_frames_kortex.py [--repeats 2000]

- FrameTree.lookup (flash_core.geometry.frame_tree, the tf2 stand-in on pip-only machines): a static camera chain
  (3 edges), the same chain under a dynamic odom -> base_link edge read between two of its 1000 samples (slerp),
  and the latest common time; plus moving a 20k-point cloud into the target frame (what the grasp server does).
- The kortex worker (flash_motion.kortex_executor) against tests/ros/fake_kortex_api, the logging double of
  Kinova's kortex_api (the real wheel is not on PyPI): worker start + session, a status round trip, and an
  execute of a 200-waypoint trajectory that the double ends at once (protocol + conversion cost only; on the arm
  the motion itself dominates).
Median / p10 / p90 over `--repeats`; the 1-minute load average is recorded (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.spatial.transform import Rotation

from flash_core.geometry.frame_tree import FrameTree
from flash_core.geometry.rigid import transform_from_quaternion, transform_points
from flash_core.planning import ARM_JOINT_NAMES, JointTrajectory

RESULTS = Path(__file__).resolve().parent / "results" / "bench_frames_kortex.json"
FAKE_KORTEX = Path(__file__).resolve().parent.parent / "tests" / "ros" / "fake_kortex_api"


def timed(fn: Callable[[], object], repeats: int) -> dict:
    for _ in range(min(20, repeats)):
        fn()
    values = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        values.append((time.perf_counter() - start) * 1e6)
    q10, q50, q90 = np.percentile(values, [10, 50, 90])
    return {"median_us": float(q50), "p10_us": float(q10), "p90_us": float(q90), "repeats": repeats}


def frame_rows(repeats: int) -> dict[str, dict]:
    rng = np.random.default_rng(0)

    def random_transform() -> np.ndarray:
        return transform_from_quaternion(rng.normal(size=3), Rotation.random(random_state=rng).as_quat())

    tree = FrameTree()
    for parent, child in (("base_link", "camera_mount"), ("camera_mount", "camera_link"),
                          ("camera_link", "camera_optical")):
        tree.set_transform(parent, child, random_transform(), static=True)
    for stamp in np.arange(1000) * 0.01:  # 10 s of odometry at 100 Hz
        tree.set_transform("odom", "base_link", random_transform(), stamp_s=float(stamp))
    cloud = rng.normal(size=(20_000, 3))
    target_from_camera = tree.lookup("base_link", "camera_optical")
    return {
        "lookup, static chain (3 edges)": timed(lambda: tree.lookup("base_link", "camera_optical"), repeats),
        "lookup, static chain + dynamic edge at a stamp (slerp)":
            timed(lambda: tree.lookup("odom", "camera_optical", 5.005), repeats),
        "lookup, latest common time": timed(lambda: tree.lookup("odom", "camera_optical"), repeats),
        "transform 20k cloud points": timed(lambda: transform_points(target_from_camera, cloud),
                                            max(50, repeats // 20)),
    }


def kortex_rows(repeats: int) -> dict[str, dict]:
    from flash_motion.kortex_executor import KortexExecutor

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKE_KORTEX), os.environ.get("PYTHONPATH")]))
        os.environ["FAKE_KORTEX_LOG"] = str(Path(tmp) / "calls.jsonl")
        starts = []
        for _ in range(5):
            executor = KortexExecutor()
            start = time.perf_counter()
            executor.start()
            starts.append((time.perf_counter() - start) * 1e6)
            executor.close()
        executor = KortexExecutor()
        executor.start()
        positions = np.linspace(np.zeros(7), np.full(7, 1.0), 201)
        trajectory = JointTrajectory(tuple(ARM_JOINT_NAMES), positions, np.zeros_like(positions),
                                     np.zeros_like(positions), np.linspace(0.0, 4.0, 201))
        try:
            return {
                "worker start + session (5 runs)": {"median_us": float(np.median(starts)),
                                                    "p10_us": float(np.min(starts)), "p90_us": float(np.max(starts)),
                                                    "repeats": 5},
                "status round trip": timed(executor.status, max(100, repeats // 10)),
                "execute 200 waypoints (double ends at once)": timed(lambda: executor.execute(trajectory),
                                                                     max(50, repeats // 40)),
            }
        finally:
            executor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    rows = {**frame_rows(args.repeats), **kortex_rows(args.repeats)}
    table = Table(title="Frames and the kortex worker (µs)")
    for column in ("what", "median", "p10", "p90", "repeats"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name, row in rows.items():
        table.add_row(name, f"{row['median_us']:.1f}", f"{row['p10_us']:.1f}", f"{row['p90_us']:.1f}",
                      str(row["repeats"]))
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "command": "python benchmarks/bench_frames_kortex.py " + " ".join(sys.argv[1:]),
        "machine": platform.platform(), "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0], "rows": rows,
    }, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
