"""LEAP driver under faults: the worst gap between two joint_states messages while a fault comes and goes.

    .venv/bin/python benchmarks/bench_leap_faults.py [--seconds 3] [--rate-hz 100]

For each fault, a fresh `leap_hand_driver` node (its own process, the shipped config, `probe_interval_s`
0.2) drives a fresh Protocol 2.0 pty double through the unmodified dynamixel_sdk; this process holds the
double, injects the fault while the node runs, and subscribes to joint_states and hand_status over real
DDS on loopback. The gap is taken between header stamps (the node's clock at publish time), so it
measures the node, not DDS delivery. The driver's design bound is 3 control periods. Also reported: the
99th-percentile gap, whether hand_status ended ok, and how the fault was handled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from flash_core.motors.dynamixel.double import DynamixelDouble

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_leap_faults.json"
CONFIG = ROOT / "config" / "leap_hand_driver.yaml"


@dataclass
class Scenario:
    name: str
    description: str
    before_start: Callable[[DynamixelDouble], None] = lambda double: None
    # (seconds after the first joint_states, action on the double or through the client)
    events: list[tuple[float, Callable]] = field(default_factory=list)
    node_args: tuple[str, ...] = ()


def _silent_all(double: DynamixelDouble, silent: bool) -> None:
    for i in double.motors:
        double.set_silent(i, silent)


SCENARIOS = [
    Scenario("none", "no fault"),
    Scenario("motor silent at start", "motor 3 silent at start (allow_missing [3]), answers after 1 s",
             lambda d: d.set_silent(3), [(1.0, lambda d, c: d.set_silent(3, False))], ("allow_missing:=[3]",)),
    Scenario("access error on mode write", "motor 5 refuses Operating_Mode (allow_missing [5]) until 1 s",
             lambda d: d.refuse_writes(5, "Operating_Mode"),
             [(1.0, lambda d, c: d.refuse_writes(5, "Operating_Mode", refuse=False))], ("allow_missing:=[5]",)),
    Scenario("one motor silent", "motor 3 silent from 0.5 s to 1.5 s",
             events=[(0.5, lambda d, c: d.set_silent(3)), (1.5, lambda d, c: d.set_silent(3, False))]),
    Scenario("power cycle (instant)", "motor 4 back at once with RAM defaults (torque off) at 0.5 s",
             events=[(0.5, lambda d, c: d.power_cycle(4, 0.0))]),
    Scenario("power cycle (0.3 s off)", "motor 4 off for 0.3 s at 0.5 s, back with RAM defaults",
             events=[(0.5, lambda d, c: d.power_cycle(4, 0.3))]),
    Scenario("hardware error + reboot", "overload on motor 7 at 0.5 s; reboot service called at 1.0 s",
             events=[(0.5, lambda d, c: d.set_hardware_error(7, 0b0010_0000)), (1.0, lambda d, c: c.reboot(["7"]))]),
    Scenario("reboot all", "reboot service for every motor at 0.5 s", events=[(0.5, lambda d, c: c.reboot([]))]),
    Scenario("all motors silent", "all 16 silent from 0.5 s to 1.5 s",
             events=[(0.5, lambda d, c: _silent_all(d, True)), (1.5, lambda d, c: _silent_all(d, False))]),
    Scenario("corrupt Fast Sync Read (CRC)", "every Fast Sync Read reply with a bad CRC from 0.5 s",
             events=[(0.5, lambda d, c: d.garble_fast_sync_read("crc"))]),
    Scenario("corrupt Fast Sync Read (length)", "every Fast Sync Read reply a byte short per motor from 0.5 s",
             events=[(0.5, lambda d, c: d.garble_fast_sync_read("length"))]),
]


class Client:
    """joint_states stamps and hand_status of one driver, and its reboot service."""

    def __init__(self, context, namespace: str):
        from rclpy.node import Node
        from sensor_msgs.msg import JointState

        from flash_interfaces.msg import HandMotorStatus
        from flash_interfaces.srv import LeapReboot

        self.node = Node("bench_leap_faults", namespace=namespace, context=context)
        self.stamps: list[float] = []
        self.statuses: list = []
        self.node.create_subscription(JointState, "joint_states", self._on_joint_state, 100)
        self.node.create_subscription(HandMotorStatus, "hand_status", self.statuses.append, 10)
        self._reboot = self.node.create_client(LeapReboot, "reboot")
        self.reboots: list = []  # futures

    def _on_joint_state(self, msg) -> None:
        self.stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9)

    def reboot(self, joints: list[str]) -> None:
        from flash_interfaces.srv import LeapReboot

        self.reboots.append(self._reboot.call_async(LeapReboot.Request(joints=joints)))


def run(scenario: Scenario, index: int, seconds: float, rate_hz: float, context, executor) -> dict:
    namespace = f"/fault{index}"
    with DynamixelDouble(range(16)) as double:
        scenario.before_start(double)
        args = [sys.executable, "-m", "leap_hand_driver.driver_node", "--ros-args", "-r", f"__ns:={namespace}",
                "--params-file", str(CONFIG), "-p", f"port:={double.port}", "-p", f"rate_hz:={rate_hz}",
                "-p", "probe_interval_s:=0.2"]
        for a in scenario.node_args:
            args += ["-p", a]
        node = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        client = Client(context, namespace)
        executor.add_node(client.node)
        try:
            deadline = time.monotonic() + 60.0
            while not client.stamps and time.monotonic() < deadline and node.poll() is None:
                executor.spin_once(timeout_sec=0.05)
            if not client.stamps:
                raise RuntimeError(f"{scenario.name}: the driver published nothing:\n{node.stdout.read()}")
            start = time.monotonic()
            pending = sorted(scenario.events, key=lambda e: e[0])
            while time.monotonic() - start < seconds:
                executor.spin_once(timeout_sec=0.005)
                while pending and time.monotonic() - start >= pending[0][0]:
                    pending.pop(0)[1](double, client)
            alive = node.poll() is None  # a node that died mid-run would leave a short, flattering record
            gaps = np.diff(client.stamps)
            status = client.statuses[-1]
            reboot = [f.result() for f in client.reboots if f.done()]
            return {
                "fault": scenario.name,
                "description": scenario.description,
                "messages": len(gaps) + 1,
                "worst_gap_ms": float(gaps.max() * 1e3),
                "worst_gap_periods": float(gaps.max() * rate_hz),
                "median_gap_ms": float(np.median(gaps) * 1e3),
                "p99_gap_ms": float(np.percentile(gaps, 99) * 1e3),
                "ended_ok": bool(status.ok) and alive,
                "node_alive": alive,
                "fast_sync_read": bool(status.fast_sync_read),
                "reboot_answers": [{"success": r.success, "rebooted": list(r.rebooted)} for r in reboot],
                "final_message": status.message,
            }
        finally:
            executor.remove_node(client.node)
            client.node.destroy_node()
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGINT)
                node.wait(timeout=10)


def refused_start() -> dict:
    """Wrong model number: the node must exit at start, naming the motor, with torque left off."""
    with DynamixelDouble(range(16)) as double:
        double.set_model_number(7, 1020)
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "leap_hand_driver.driver_node", "--ros-args", "--params-file",
                              str(CONFIG), "-p", f"port:={double.port}"], capture_output=True, text=True, timeout=60)
        torque = sorted({m.get("Torque_Enable") for m in double.motors.values()})
    line = next((s for s in (out.stdout + out.stderr).splitlines() if "reports model" in s), "")
    return {"fault": "wrong model (XM430 on ID 7)", "exit_code": out.returncode, "seconds": time.monotonic() - t0,
            "torque_enable_values": torque, "message": line.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="run time per fault after the first message")
    parser.add_argument("--rate-hz", type=float, default=100.0, help="the node's control rate")
    args = parser.parse_args()
    # The double answers from a thread of this process, beside the ROS client: a short GIL switch interval
    # lets it answer within ~1 ms, as motors would, instead of waiting up to 5 ms for the client's thread.
    sys.setswitchinterval(0.0005)
    os.environ.update({"ROS_DOMAIN_ID": str(1 + os.getpid() % 200), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
                       "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp", "PYTHONUNBUFFERED": "1"})
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    console = Console(width=150)
    rows = []
    try:
        for i, scenario in enumerate(SCENARIOS):
            console.print(f"[{i + 1}/{len(SCENARIOS)}] {scenario.name}")
            rows.append(run(scenario, i, args.seconds, args.rate_hz, context, executor))
        refused = refused_start()
    finally:
        executor.shutdown()
        context.try_shutdown()

    table = Table(title=f"LEAP driver node at {args.rate_hz:g} Hz under faults: joint_states gaps (header stamps), "
                        f"{args.seconds:g} s per fault")
    for column in ("fault", "messages", "worst gap ms", "worst gap (periods)", "median gap ms", "p99 gap ms",
                   "ended ok", "notes"):
        table.add_column(column, justify="left" if column in ("fault", "notes") else "right")
    for r in rows:
        notes = [] if r["node_alive"] else ["NODE EXITED"]
        notes += [] if r["fast_sync_read"] else ["fell back to Sync Read"]
        notes += [f"reboot -> success={a['success']}, {len(a['rebooted'])} driven" for a in r["reboot_answers"]]
        table.add_row(r["fault"], str(r["messages"]), f"{r['worst_gap_ms']:.1f}", f"{r['worst_gap_periods']:.2f}",
                      f"{r['median_gap_ms']:.1f}", f"{r['p99_gap_ms']:.1f}", "yes" if r["ended_ok"] else "no",
                      "; ".join(notes))
    console.print(table)
    console.print(f"{refused['fault']}: exit code {refused['exit_code']} after {refused['seconds']:.1f} s, "
                  f"torque values {refused['torque_enable_values']}: {refused['message']}")
    load = os.getloadavg()[0]
    console.print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} cores")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    command = f"python benchmarks/bench_leap_faults.py --seconds {args.seconds:g} --rate-hz {args.rate_hz:g}"
    summary = {"command": command,
               "rate_hz": args.rate_hz, "seconds_per_fault": args.seconds, "load_1min": load,
               "cpu_count": os.cpu_count(), "results": rows, "refused_start": refused}
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
