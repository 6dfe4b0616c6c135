"""LEAP hand driver loop rate: one cycle = sync read of position+velocity+current (10 bytes x 16 motors)
+ sync write of 16 goal positions, i.e. `LeapHand.read_state()` + `LeapHand.write_positions()`.

    .venv/bin/python benchmarks/bench_leap_driver.py [--cycles 2000] [--rounds 8]

Against the Protocol 2.0 pty double, through the unmodified dynamixel_sdk (setups interleaved in rounds), with
the double either in a thread of this process (shares the GIL with the driver) or in its own process
(`flash leap-double`, as a user without a hand would run it); Fast Sync Read vs plain Sync Read; the in-memory
fake bus (no bytes) as the ceiling of the Python side; and, for comparison, the driver with the SDK's own
busy-polling receive (no select() wait before rxPacket). The pty has no baud rate: these numbers measure the
driver's and the SDK's own overhead, not a 4 Mbaud wire (see `wire_bound_hz` for that).
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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from flash_core.hands.spec import load_spec
from flash_core.motors import LeapHand, LeapHandConfig, Motor
from flash_core.motors.dynamixel.bus import DynamixelMotorsBus
from flash_core.motors.dynamixel.double import DynamixelDouble

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


@dataclass
class Setup:
    label: str
    config: LeapHandConfig
    busy_polling: bool = False
    periods: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    def run_block(self, goals: np.ndarray) -> None:
        """Connect, warm up, time len(goals) cycles, disconnect."""
        bus = busy_polling_bus(self.config) if self.busy_polling else None
        with LeapHand(self.config, bus=bus) as hand:
            for goal in goals[:20]:  # warm-up
                hand.read_state()
                hand.write_positions(goal)
            for goal in goals:
                start = time.perf_counter()
                hand.read_state()
                hand.write_positions(goal)
                self.periods.append(time.perf_counter() - start)
            for kind, count in hand.status().failures.items():
                self.failures[kind] = self.failures.get(kind, 0) + count

    def summary(self) -> dict:
        periods = np.asarray(self.periods)
        row = {
            "hz_median": float(1.0 / np.median(periods)),
            "hz_p95": float(1.0 / np.percentile(periods, 95)),  # rate met by 95% of cycles
            "ms_median": float(np.median(periods) * 1e3),
            "ms_p95": float(np.percentile(periods, 95) * 1e3),
            "cycles": len(periods),
            "failures": self.failures,
        }
        if not self.config.use_fake_hardware:
            row["wire_bound_hz"] = wire_bound_hz(self.config.fast_sync_read)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000, help="timed cycles per setup")
    parser.add_argument("--rounds", type=int, default=8, help="setups alternate in this many blocks")
    args = parser.parse_args()
    goals = np.random.default_rng(0).uniform(-0.3, 0.8, (args.cycles // args.rounds, N_MOTORS))

    with double_in_thread() as thread_port, double_in_process() as process_port:
        setups = [
            Setup("pty double (thread), fast sync read", LeapHandConfig(port=thread_port)),
            Setup("pty double (thread), sync read", LeapHandConfig(port=thread_port, fast_sync_read=False)),
            Setup("pty double (process), fast sync read", LeapHandConfig(port=process_port)),
            Setup("pty double (process), sync read", LeapHandConfig(port=process_port, fast_sync_read=False)),
            Setup("pty double (process), fast sync read, SDK busy-polling", LeapHandConfig(port=process_port),
                  busy_polling=True),
            Setup("fake bus (in memory)", LeapHandConfig(use_fake_hardware=True)),
        ]
        # Round-robin blocks, so that the load other jobs put on the machine spreads over all setups alike.
        for _ in track(range(args.rounds), description="rounds"):
            for setup in setups:
                setup.run_block(goals)
    rows = {setup.label: setup.summary() for setup in setups}

    table = Table(title=f"LEAP driver loop: read pos+vel+cur, write goals "
                        f"({args.rounds} x {len(goals)} cycles per setup, interleaved)")
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
    summary = {"command": "python benchmarks/bench_leap_driver.py", "cycles": len(goals) * args.rounds,
               "rounds": args.rounds, "load_1min": load,
               "cpu_count": os.cpu_count(), "results": rows}
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
