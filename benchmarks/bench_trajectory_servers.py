"""flash_sim's trajectory servers at 100 Hz: command jitter and the node's CPU.

    .venv/bin/python -m benchmarks.bench_trajectory_servers [--duration-s 10]   # from the repository root

Starts the servers (`python -m flash_sim.trajectory_node`, sim time) and the test plant of
tests/ros/test_trajectory_servers.py (100 Hz /clock and /isaac_joint_states), then runs one arm goal and one hand
goal of `--duration-s` together. Reports the intervals between /isaac_joint_commands messages as received here
(wall time) and as stamped by the node (sim time), and the node's CPU (user + system time from /proc) while
idle (republishing /joint_states only) and while both goals run, in % of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rich.console import Console
from rich.table import Table
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectoryPoint

from tests.ros.test_trajectory_servers import ARM, ARM_ACTION, CONFIG, HAND, HAND_ACTION, PLANT

RESULTS = Path(__file__).resolve().parent / "results" / "bench_trajectory_servers.json"


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def goal(names, positions, duration_s: float) -> FollowJointTrajectory.Goal:
    g = FollowJointTrajectory.Goal()
    g.trajectory.joint_names = names
    g.trajectory.points = [JointTrajectoryPoint(positions=positions, time_from_start=Duration(sec=int(duration_s)))]
    return g


def stats_ms(intervals_s: np.ndarray) -> dict[str, float]:
    ms = intervals_s * 1e3
    return {"mean": float(ms.mean()), "std": float(ms.std()), "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=int, default=10)
    args = parser.parse_args()
    env = {**os.environ, "ROS_DOMAIN_ID": str(1 + os.getpid() % 200), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    os.environ.update(env)
    procs = [subprocess.Popen([sys.executable, "-c", PLANT], env=env),
             subprocess.Popen([sys.executable, "-m", "flash_sim.trajectory_node", "--ros-args", "--params-file",
                               str(CONFIG)], env=env, stdout=subprocess.DEVNULL)]
    node_pid = procs[1].pid
    rclpy.init()
    node = Node("bench_trajectory_servers")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    received: list[tuple[float, float]] = []  # (wall arrival, sim stamp)
    node.create_subscription(JointState, "/isaac_joint_commands", lambda m: received.append(
        (time.monotonic(), m.header.stamp.sec + m.header.stamp.nanosec * 1e-9)), 1000)
    clients = [ActionClient(node, FollowJointTrajectory, a) for a in (ARM_ACTION, HAND_ACTION)]

    def spin_until(predicate, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the servers did not answer")
            executor.spin_once(timeout_sec=0.05)

    try:
        spin_until(lambda: all(c.server_is_ready() for c in clients), 30.0)
        time.sleep(2.0)  # let start-up settle
        idle_wall, idle_cpu = time.monotonic(), cpu_s(node_pid)
        spin_until(lambda: time.monotonic() - idle_wall > 5.0, 10.0)
        idle_pct = 100 * (cpu_s(node_pid) - idle_cpu) / (time.monotonic() - idle_wall)
        futures = [c.send_goal_async(goal(n, [0.5] * len(n), args.duration_s)) for c, n in zip(clients, (ARM, HAND))]
        spin_until(lambda: all(f.done() for f in futures), 10.0)
        busy_wall, busy_cpu = time.monotonic(), cpu_s(node_pid)
        results = [f.result().get_result_async() for f in futures]
        spin_until(lambda: all(r.done() for r in results), args.duration_s + 10.0)
        busy_pct = 100 * (cpu_s(node_pid) - busy_cpu) / (time.monotonic() - busy_wall)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
    arrivals, stamps = np.array(received).T
    summary = {
        "duration_s": args.duration_s, "commands": len(received), "expected": 100 * args.duration_s,
        "wall_interval_ms": stats_ms(np.diff(arrivals)), "sim_interval_ms": stats_ms(np.diff(stamps)),
        "cpu_idle_pct": idle_pct, "cpu_during_goals_pct": busy_pct,
    }
    table = Table(title=f"trajectory servers, arm + hand goals of {args.duration_s} s at 100 Hz")
    for column in ("", "mean", "std", "p99", "max"):
        table.add_column(column)
    for name in ("wall_interval_ms", "sim_interval_ms"):
        table.add_row(name, *(f"{summary[name][k]:.2f}" for k in ("mean", "std", "p99", "max")))
    console = Console()
    console.print(table)
    console.print(f"commands {summary['commands']} (expected {summary['expected']}); node CPU idle "
                  f"{idle_pct:.1f} %, during goals {busy_pct:.1f} % of one core")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
