"""Grasp server goal latency: GenerateGrasp goal sent -> result received, over real DDS, with the default model.

    .venv/bin/python benchmarks/bench_grasp_server.py [--goals 10] [--warmup 2] [--num-grasps 16] [--baseline REV]

For each setting (parameter overrides of config/grasp_server.yaml), a fresh `flash_grasp_server` node (its own
process, no `checkpoint` parameter, so it serves the packaged default model in flash_core/model/default) is
started with config/grasp_server.yaml and the setting's overrides (solver, settle); once every server is ready,
this process sends goals round robin, one to each server in turn and each after the previous result, so every row
sees the same load from other jobs on the machine. A goal asks for K grasps of a
procedural mug: 2048 surface points with normals from flash_training's ProceduralSource + process_object, placed
at (0.5, 0.1, 0.05) m in the cloud's own frame. Warm-up goals are not counted. The clock runs from
send_goal_async to the result's arrival in this process, so it includes goal acceptance, validation, encoding,
sampling, settling, ranking and DDS. With --baseline REV a first row serves the default setting with git revision
REV's core (src/flash_core extracted with git archive, first on the server's PYTHONPATH; the node itself is this
tree's), so a change to the core is compared with the code before it in one run, on the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_grasp_server.json"
CONFIG = ROOT / "config" / "grasp_server.yaml"
OBJECT_CENTRE_M = (0.5, 0.1, 0.05)

# Parameter overrides of config/grasp_server.yaml; {}: the server's defaults (euler 8, settle on).
SETTINGS: list[dict[str, object]] = [{}, {"settle": False}, {"solver_steps": 16}]


def mug_cloud(num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """(num_points, 3) surface points (m, around OBJECT_CENTRE_M) and unit normals of procedural mug_000."""
    from flash_training.data.objects.procedural import ProceduralSource
    from flash_training.data.processing import ProcessingConfig, process_object

    processed = process_object(ProceduralSource().load("mug_000"), ProcessingConfig(num_points=num_points))
    return processed.points + np.asarray(OBJECT_CENTRE_M, np.float32), processed.normals


class ServedSetting:
    """One row: a server process with the setting's overrides (and `core`'s flash_core, if given) and this
    process's action client to it, timing one goal at a time."""

    def __init__(self, setting: dict, index: int, context, workdir: Path, core: str | None = None):
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        from flash_interfaces.action import GenerateGrasp

        self.setting, self.core, self.label = setting, core, label(setting, core)
        namespace = f"/bench{index}"
        command = [sys.executable, "-m", "flash_grasp_server.server_node", "--ros-args", "-r",
                   f"__ns:={namespace}", "--params-file", str(CONFIG)]
        for name, value in setting.items():
            command += ["-p", f"{name}:={json.dumps(value)}"]
        env = None
        if core is not None:  # the server imports that revision's flash_core
            from bench_train_step import extract_baseline

            env = extract_baseline(core, workdir / core)
        self.server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       start_new_session=True, env=env)
        self.node = Node("bench_grasp_server", namespace=namespace, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.action = ActionClient(self.node, GenerateGrasp, "generate_grasp")
        self.started = time.monotonic()
        self.ready_s: float | None = None
        self.latencies: list[float] = []
        self.evaluations: set[int] = set()
        self.grasps: list[list[float]] = []

    def wait(self, predicate, timeout_s: float) -> bool:
        from flash_ros.spinning import collector_paused

        deadline = time.monotonic() + timeout_s
        with collector_paused():  # a collection inside the executor's wait can deadlock rclpy
            while not predicate() and time.monotonic() < deadline and self.server.poll() is None:
                self.executor.spin_once(timeout_sec=0.01)
        return predicate()

    def wait_ready(self) -> None:
        if not self.wait(self.action.server_is_ready, 180.0):
            output = self.server.stdout.read() if self.server.poll() is not None else "(still running)"
            raise RuntimeError(f"{self.label}: the server did not come up in 180 s:\n{output}")
        self.ready_s = time.monotonic() - self.started

    def send(self, goal, timed: bool) -> None:
        """One goal, sent after the previous result; its latency recorded when `timed`."""
        from flash_interfaces.action import GenerateGrasp

        t0 = time.perf_counter()
        send = self.action.send_goal_async(goal)
        if not self.wait(send.done, 30.0) or not send.result().accepted:
            raise RuntimeError(f"{self.label}: a goal was not accepted")
        result_future = send.result().get_result_async()
        if not self.wait(result_future.done, 120.0):
            raise RuntimeError(f"{self.label}: a goal got no result in 120 s")
        elapsed = time.perf_counter() - t0
        result = result_future.result().result
        if result.error_code != GenerateGrasp.Result.SUCCESS or len(result.grasps) != goal.num_grasps:
            raise RuntimeError(f"{self.label}: error {result.error_code} ({result.message}), "
                               f"{len(result.grasps)} grasps")
        if timed:
            self.latencies.append(elapsed)
            self.evaluations.add(result.function_evaluations)
        self.grasps = [[*g.joint_positions, g.wrist_pose.pose.position.x, g.wrist_pose.pose.position.y,
                        g.wrist_pose.pose.position.z] for g in result.grasps]  # the last goal's, ranked

    def summary(self) -> dict:
        latencies = self.latencies
        return {"setting": self.label, "overrides": self.setting, "core": self.core or "working tree",
                "server_ready_s": self.ready_s, "function_evaluations": sorted(self.evaluations),
                "latencies_s": latencies, "median_s": float(np.median(latencies)),
                "p95_s": float(np.percentile(latencies, 95)), "min_s": float(np.min(latencies)),
                "max_s": float(np.max(latencies)), "grasps": self.grasps}

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.executor.shutdown()
        if self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGINT)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()


def label(setting, core: str | None = None) -> str:
    overrides = ", ".join(f"{name} {value}" for name, value in setting.items())
    return (f"default (config/grasp_server.yaml){': ' + overrides if overrides else ''}"
            f"{f', core of {core}' if core else ''}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=10, help="timed goals per setting")
    parser.add_argument("--warmup", type=int, default=2, help="untimed goals first")
    parser.add_argument("--num-grasps", type=int, default=16, help="K, grasps asked per goal")
    parser.add_argument("--num-points", type=int, default=2048, help="object cloud size")
    parser.add_argument("--baseline", help="git revision whose core serves a first row (the default setting)")
    args = parser.parse_args()
    os.environ.update({"ROS_DOMAIN_ID": str(1 + os.getpid() % 200), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                       "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp", "PYTHONUNBUFFERED": "1"})
    import rclpy
    import torch

    from flash_interfaces.action import GenerateGrasp
    from flash_ros.cloud import pack_cloud, xyz_columns

    torch.set_num_threads(1)  # this process only builds the cloud; the server is what is measured
    console = Console(width=150)
    points, normals = mug_cloud(args.num_points)
    cloud = pack_cloud({**xyz_columns(points), **xyz_columns(normals, "normal_")}, "table")
    goal = GenerateGrasp.Goal(prompt="grasp the mug by the handle", num_grasps=args.num_grasps, use_seed=True,
                              seed=0, object_cloud=cloud)
    load_before = os.getloadavg()
    context = rclpy.Context()
    rclpy.init(context=context)
    runs = ([({}, args.baseline)] if args.baseline else []) + [(setting, None) for setting in SETTINGS]
    served = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            served = [ServedSetting(setting, i, context, Path(workdir), core) for i, (setting, core) in enumerate(runs)]
            for row in served:
                row.wait_ready()
                console.print(f"  ready after {row.ready_s:.1f} s: {row.label}")
            # Round robin, one goal per server in turn: every row sees the same load (other jobs on the machine).
            for i in range(args.warmup + args.goals):
                for row in served:
                    row.send(goal, timed=i >= args.warmup)
        rows = [row.summary() for row in served]
    finally:
        for row in served:
            row.close()
        context.try_shutdown()
    load_after = os.getloadavg()

    table = Table(title=f"GenerateGrasp goal sent -> result received: K = {args.num_grasps}, {args.num_points}-point "
                        f"mug with normals, default model, {args.goals} goals after {args.warmup} warm-up")
    for column in ("setting", "NFE", "median s", "p95 s", "min s", "max s", "server ready s"):
        table.add_column(column, justify="left" if column == "setting" else "right")
    for r in rows:
        table.add_row(r["setting"], ", ".join(map(str, r["function_evaluations"])), f"{r['median_s']:.3f}",
                      f"{r['p95_s']:.3f}", f"{r['min_s']:.3f}", f"{r['max_s']:.3f}", f"{r['server_ready_s']:.1f}")
    console.print(table)
    if args.baseline:  # the same goal and seed: the baseline's grasps and this tree's default's, rank by rank
        before, after = np.asarray(rows[0]["grasps"]), np.asarray(rows[1]["grasps"])
        joints_rad, wrist_m = np.abs(after - before)[:, :-3].max(), np.abs(after - before)[:, -3:].max()
        console.print(f"grasps vs the baseline's (rank by rank): max |joint difference| {joints_rad:.2e} rad, "
                      f"max |wrist translation difference| {wrist_m:.2e} m")
        rows[1]["vs_baseline"] = {"max_joint_difference_rad": float(joints_rad),
                                  "max_wrist_difference_m": float(wrist_m)}
    console.print(f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
                  f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} on {os.cpu_count()} cores")
    command = (f"python benchmarks/bench_grasp_server.py --goals {args.goals} --warmup {args.warmup} "
               f"--num-grasps {args.num_grasps} --num-points {args.num_points}"
               f"{f' --baseline {args.baseline}' if args.baseline else ''}")
    summary = {"command": command, "num_grasps": args.num_grasps, "num_points": args.num_points,
               "goals": args.goals, "warmup": args.warmup, "load_before": load_before, "load_after": load_after,
               "cpu_count": os.cpu_count(), "results": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
