"""LEAP hand driver loop rate: one cycle = sync read of position+velocity+current (10 bytes x 16 motors)
+ sync write of 16 goal positions, i.e. `LeapHand.read_state()` + `LeapHand.write_positions()`.

    .venv/bin/python benchmarks/bench_leap_driver.py [--cycles 2000]

Against the Protocol 2.0 pty double, through the unmodified dynamixel_sdk, with the double either in a
thread of this process (shares the GIL with the driver) or in its own process (`flash leap-double`, as a
user without a hand would run it); Fast Sync Read vs plain Sync Read; the in-memory fake bus (no bytes)
as the ceiling of the Python side; and, for comparison, the driver with the SDK's own busy-polling
receive (no select() wait before rxPacket). The pty has no baud rate: these numbers measure the driver's and the
SDK's own overhead, not a 4 Mbaud wire (see `wire_bound_hz` for that).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from flash_core.hands.spec import load_spec
from flash_core.motors import LeapHand, LeapHandConfig, Motor
from flash_core.motors.dynamixel import DynamixelMotorsBus
from flash_core.motors.dynamixel_double import DynamixelDouble

RESULTS = Path(__file__).resolve().parent / "results" / "bench_leap_driver.json"
BAUD = 4_000_000
N_MOTORS = 16
STATE_BYTES = 10


def wire_bound_hz(fast: bool) -> float:
    """Cycles/s a 4 Mbaud bus could carry (10 bits per byte, no return delay, no USB latency)."""
    request = 14 + N_MOTORS  # sync read instruction
    reply = 8 + N_MOTORS * (STATE_BYTES + 4) if fast else N_MOTORS * (11 + STATE_BYTES)
    write = 14 + N_MOTORS * (1 + 4)
    return BAUD / 10 / (request + reply + write)


@contextmanager
def double_in_thread():
    with DynamixelDouble(range(N_MOTORS)) as double:
        yield double.port


@contextmanager
def double_in_process():
    proc = subprocess.Popen([sys.executable, "-m", "flash_core.cli", "leap-double"], stdout=subprocess.PIPE,
                            text=True)
    try:
        port = None
        for line in proc.stdout:
            match = re.match(r"port: (\S+)", line)
            if match:
                port = match.group(1)
                break
        if port is None:
            raise RuntimeError("flash leap-double did not print its port")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class BusyPollingBus(DynamixelMotorsBus):
    """The driver as it would be without its select() wait: the SDK's rxPacket spins on the port."""

    def _wait_for_bytes(self) -> None:
        pass


def busy_polling_bus(config: LeapHandConfig) -> BusyPollingBus:
    joints = load_spec("leap").joint_names
    motors = {j: Motor(i, config.motor_model) for j, i in zip(joints, config.motor_ids)}
    return BusyPollingBus(config.port, motors, config.baudrate, config.fast_sync_read, config.bus)


def measure(config: LeapHandConfig, cycles: int, label: str, bus=None) -> dict:
    periods = np.empty(cycles)
    rng = np.random.default_rng(0)
    goals = rng.uniform(-0.3, 0.8, (cycles, N_MOTORS))
    with LeapHand(config, bus=bus) as hand:
        for k in range(50):  # warm-up
            hand.read_state()
            hand.write_positions(goals[k])
        for k in track(range(cycles), description=label, transient=True):
            start = time.perf_counter()
            state = hand.read_state()
            hand.write_positions(goals[k])
            periods[k] = time.perf_counter() - start
        status = hand.status()
    if not state.responding.all() or sum(status.failures.values()):
        print(f"[warn] {label}: failures {status.failures}, retries {status.retries}")
    return {
        "hz_median": float(1.0 / np.median(periods)),
        "hz_p95": float(1.0 / np.percentile(periods, 95)),  # rate met by 95% of cycles
        "ms_median": float(np.median(periods) * 1e3),
        "ms_p95": float(np.percentile(periods, 95) * 1e3),
        "failures": dict(status.failures),
        "retries": status.retries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()

    rows = {}
    for where, double in (("thread", double_in_thread), ("process", double_in_process)):
        for fast in (True, False):
            label = f"pty double ({where}), {'fast sync read' if fast else 'sync read'}"
            with double() as port:
                rows[label] = measure(LeapHandConfig(port=port, fast_sync_read=fast), args.cycles, label)
            rows[label]["wire_bound_hz"] = wire_bound_hz(fast)
    label = "pty double (process), fast sync read, SDK busy-polling"
    with double_in_process() as port:
        config = LeapHandConfig(port=port)
        rows[label] = measure(config, args.cycles, label, bus=busy_polling_bus(config))
    rows[label]["wire_bound_hz"] = wire_bound_hz(True)
    rows["fake bus (in memory)"] = measure(LeapHandConfig(use_fake_hardware=True), args.cycles, "fake bus")

    table = Table(title=f"LEAP driver loop: read pos+vel+cur, write goals ({args.cycles} cycles each)")
    for column in ("setup", "Hz median", "Hz p95", "ms median", "ms p95", "4 Mbaud wire bound Hz", "failures"):
        table.add_column(column, justify="left" if column == "setup" else "right")
    for label, r in rows.items():
        bound = f"{r['wire_bound_hz']:.0f}" if "wire_bound_hz" in r else "-"
        table.add_row(label, f"{r['hz_median']:.0f}", f"{r['hz_p95']:.0f}", f"{r['ms_median']:.2f}",
                      f"{r['ms_p95']:.2f}", bound, str(sum(r["failures"].values())))
    console = Console(width=140)
    console.print(table)
    load = os.getloadavg()[0]
    console.print(f"load average (1 min) at the end: {load:.2f} on {os.cpu_count()} cores")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    summary = {"command": "python benchmarks/bench_leap_driver.py", "cycles": args.cycles, "load_1min": load,
               "cpu_count": os.cpu_count(), "results": rows}
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
