"""Fixtures: a Protocol 2.0 double on a pty, a LEAP hand driven through the unmodified SDK, and a
control loop that steps the hand at its period and records when each cycle ended."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from flash_core.motors import LeapHand, LeapHandConfig, SupervisorConfig
from flash_core.motors.dynamixel import protocol as proto
from flash_core.motors.dynamixel.double import DynamixelDouble

pytest.importorskip("dynamixel_sdk")

SOFT_JOINTS = (0, 4, 8)  # abduction joints: 0.75 x P and D


def expected_setup(motor_id: int, current: int = 350) -> dict[str, int]:
    soft = motor_id in SOFT_JOINTS
    return {"Operating_Mode": 5, "Position_P_Gain": 450 if soft else 600, "Position_I_Gain": 0,
            "Position_D_Gain": 150 if soft else 200, "Goal_Current": current}


def registers(double: DynamixelDouble, motor_id: int, names=("Operating_Mode", "Position_P_Gain", "Position_I_Gain",
                                                             "Position_D_Gain", "Goal_Current")) -> dict[str, int]:
    with double.lock:
        return {n: double.motors[motor_id].get(n) for n in names}


def torque(double: DynamixelDouble, motor_id: int) -> int:
    with double.lock:
        return double.motors[motor_id].get("Torque_Enable")


@pytest.fixture
def raw_double():
    """The double alone, for tests of the double and the bus (which turn torque on however they like)."""
    with DynamixelDouble(range(16)) as d:
        yield d


@pytest.fixture
def double(raw_double):
    """The double under a LEAP hand: afterwards, every torque-on must have been a write to that one
    motor, after its setup (never a broadcast, never an unconfigured motor), whatever the test did."""
    yield raw_double
    for event in raw_double.torque_on_log:
        assert event.instruction == proto.INST_WRITE, f"broadcast torque-on: {event}"
        expected = expected_setup(event.motor_id, event.goal_current)
        held = {"Operating_Mode": event.operating_mode, "Position_P_Gain": event.position_p_gain,
                "Position_D_Gain": event.position_d_gain}
        assert held == {k: expected[k] for k in held}, f"torque on before configuration: {event}"


def fast_config(double: DynamixelDouble, **overrides) -> LeapHandConfig:
    """A hand on the double that probes and reboots quickly, so recoveries fit a short test."""
    supervisor = SupervisorConfig(probe_interval_s=0.2, boot_s=0.05, auto_reboot_delay_s=0.1)
    return LeapHandConfig(port=double.port, supervisor=overrides.pop("supervisor", supervisor), **overrides)


@pytest.fixture(params=[True, False], ids=["fast_sync_read", "sync_read"])
def hand(request, double):
    with LeapHand(fast_config(double, fast_sync_read=request.param)) as h:
        yield h


def run_queue_wait_s() -> float:
    """Time this thread has spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class ControlLoop:
    """Steps a hand once per period, as the node's timer does (a late cycle starts at once), and keeps
    when each cycle ended: the gap between two ends is the gap between two joint_states messages.

    On a shared machine the loop can wait for a CPU far longer than the driver ever takes; such waits
    (the thread's run-queue time, from schedstat) are taken out of the gaps that `worst_gap_periods`
    checks, so that it measures the driver, not the neighbours. `worst_raw_gap_periods` keeps them in."""

    hand: LeapHand
    ends_s: list[float] = field(default_factory=list)
    waits_s: list[float] = field(default_factory=list)  # run-queue time at each end

    def run(self, seconds: float, command=None, until=None) -> bool:
        """Cycles for `seconds`, or until until() is true (returns it)."""
        period = self.hand.config.period_s
        start = time.monotonic()
        next_s = start
        while time.monotonic() - start < seconds:
            self.hand.step(command)
            self.ends_s.append(time.monotonic())
            self.waits_s.append(run_queue_wait_s())
            if until is not None and until():
                return True
            next_s += period
            time.sleep(max(0.0, next_s - time.monotonic()))
            next_s = max(next_s, time.monotonic() - period)  # like a timer: no burst to catch up
        return until is None

    @property
    def worst_gap_periods(self) -> float:
        gaps = np.diff(self.ends_s) - np.diff(self.waits_s)
        return float(gaps.max() / self.hand.config.period_s) if len(gaps) else 0.0

    @property
    def worst_raw_gap_periods(self) -> float:
        gaps = np.diff(self.ends_s)
        return float(gaps.max() / self.hand.config.period_s) if len(gaps) else 0.0


@pytest.fixture
def loop(hand):
    return ControlLoop(hand)
