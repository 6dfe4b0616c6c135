"""LeapHand under the faults a real hand has, injected into the pty double while the control loop runs.

Each test checks the motors' registers on the double (mode, gains, current limit, torque), what the hand
reports (`status()`), and that the cycle never stalls: between two cycle ends (two joint_states messages
in the node) at most 3 control periods. The conftest audit checks after every test that torque only
ever went on by a write to one configured motor.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from flash_core.motors import FaultLog, HandStartupError, LeapHand, SupervisorConfig
from tests.core.motors.conftest import ControlLoop, expected_setup, fast_config, registers, torque

COMMAND = np.full(16, 0.3)
FACTORY = {"Operating_Mode": 3, "Position_P_Gain": 800, "Position_I_Gain": 0, "Position_D_Gain": 0,
           "Goal_Current": 1750}


def goal_ticks(double, motor_id: int) -> int:
    with double.lock:
        return double.motors[motor_id].get("Goal_Position")


COMMAND_TICKS = round((0.3 + math.pi) * 4096 / (2 * math.pi))


# --- start-up ---
def test_missing_motor_refuses_start_and_names_it(double):
    double.set_silent(3)
    with pytest.raises(HandStartupError, match=r"motor IDs 3 \(joints '3'\) do not answer on /dev/.*allow_missing"):
        LeapHand(fast_config(double)).connect()
    assert double.torque_on_log == [] and {torque(double, i) for i in range(16)} == {0}


def test_motor_silent_at_start_is_configured_when_it_answers(double):
    double.set_silent(3)
    with LeapHand(fast_config(double, allow_missing=(3,))) as hand:
        loop = ControlLoop(hand)
        faults = FaultLog(throttle_s=0.3)
        lines = []
        watch = lambda: lines.extend(faults.update(hand.status().faults)) or hand.status().ok  # noqa: E731
        loop.run(0.3, COMMAND, until=lambda: watch() and False)
        status = hand.status()
        assert status.motor_states[3] == "absent" and not status.ok and status.stale[3]
        assert not hand.read_state().known[3] and np.isnan(hand.read_state().position_rad[3])
        assert all(np.delete(status.driven, 3))
        assert registers(double, 3) == FACTORY and torque(double, 3) == 0  # never touched
        double.set_silent(3, False)
        assert loop.run(2.0, COMMAND, until=watch)
        assert registers(double, 3) == expected_setup(3) and torque(double, 3) == 1
        loop.run(0.05, COMMAND)
        assert goal_ticks(double, 3) == COMMAND_TICKS  # and it is commanded like the others
        loop.run(0.35, COMMAND, until=lambda: watch() and False)  # past the log's throttle time
        assert loop.worst_gap_periods <= 3
    # A line when it was found absent, one when it came back (maybe one as it was being configured):
    # not one per cycle.
    assert 2 <= len(lines) <= 3 and (lines[0].level, lines[-1].level) == (logging.WARNING, logging.INFO)
    assert lines[0].text == "motor 3 (joint '3'): absent (did not answer at start-up)"
    assert lines[-1].text.startswith("cleared: ")


def test_access_error_on_mode_write_refuses_start_with_torque_off(double):
    double.refuse_writes(5, "Operating_Mode")
    with pytest.raises(HandStartupError, match=r"motor 5 \(joint '5'\) write Operating_Mode failed: .*refused a write "
                                               r"of Operating_Mode=5: access error"):
        LeapHand(fast_config(double)).connect()
    assert double.torque_on_log == [] and {torque(double, i) for i in range(16)} == {0}
    assert registers(double, 5)["Operating_Mode"] == 3
    assert all(registers(double, i) == expected_setup(i) for i in range(16) if i != 5)  # the others were done


def test_motor_refusing_its_mode_stays_off_and_is_retried(double):
    double.refuse_writes(5, "Operating_Mode")
    with LeapHand(fast_config(double, allow_missing=(5,))) as hand:
        loop = ControlLoop(hand)
        loop.run(0.3, COMMAND)
        status = hand.status()
        assert status.motor_states[5] == "refused" and not status.ok and not status.torque_enabled[5]
        assert "access error" in status.faults["5"]
        assert torque(double, 5) == 0 and registers(double, 5)["Operating_Mode"] == 3
        double.refuse_writes(5, "Operating_Mode", refuse=False)
        assert loop.run(2.0, COMMAND, until=lambda: hand.status().ok)
        assert registers(double, 5) == expected_setup(5) and torque(double, 5) == 1
        assert loop.worst_gap_periods <= 3


@pytest.mark.parametrize("allow_missing", [(), (7,)])
def test_wrong_model_is_refused_even_if_allowed_missing(double, allow_missing):
    double.set_model_number(7, 1020)
    with pytest.raises(HandStartupError, match=r"motor 7 \(joint '7'\) reports model 1020 \(xm430-w350\), expected "
                                               r"1240 \(xc330-m288\)"):
        LeapHand(fast_config(double, allow_missing=allow_missing)).connect()
    assert double.torque_on_log == [] and registers(double, 7) == FACTORY


# --- while running ---
@pytest.mark.parametrize("off_s", [0.0, 0.15], ids=["instant", "silent_150ms"])
def test_power_cycled_motor_is_reconfigured_before_torque_on(hand, loop, double, off_s):
    loop.run(0.1, COMMAND)
    double.power_cycle(4, off_s)  # torque off, default gains and current; mode (EEPROM) kept
    assert loop.run(1.0, COMMAND, until=lambda: not hand.status().driven[4])
    status = hand.status()
    assert not status.ok
    if off_s == 0.0:  # answering all along: its torque was seen off
        assert status.faults["4"] == "motor 4 (joint '4'): configuring (torque found off (power cycle?); reconfiguring)"
    assert loop.run(2.0, COMMAND, until=lambda: hand.status().ok)
    assert registers(double, 4) == expected_setup(4) and torque(double, 4) == 1
    assert [e.motor_id for e in double.torque_on_log].count(4) == 2  # at start, and after its setup again
    loop.run(0.05, COMMAND)
    assert goal_ticks(double, 4) == COMMAND_TICKS
    assert loop.worst_gap_periods <= 3


def test_hardware_error_is_reported_then_cleared_by_reboot(hand, loop, double):
    loop.run(0.1, COMMAND)
    double.set_hardware_error(6, 0b0010_0000)  # overload: the motor turns its torque off
    assert loop.run(1.0, COMMAND, until=lambda: hand.status().motor_states[6] == "fault")
    status = hand.status()
    assert status.hardware_errors == {"6": ["overload"]} and status.hardware_error_bits == {"6": 0x20}
    assert not status.torque_enabled[6] and not status.ok and "until reboot" in status.faults["6"]
    assert torque(double, 6) == 0
    result = hand.request_reboot(["6"])
    assert loop.run(2.0, COMMAND, until=result.done)
    assert result.result().ok and result.result().driven == ("6",)
    assert registers(double, 6) == expected_setup(6) and torque(double, 6) == 1
    assert double.motors[6].get("Hardware_Error_Status") == 0
    assert loop.run(0.5, COMMAND, until=lambda: hand.status().ok)
    assert loop.worst_gap_periods <= 3


def test_reboot_of_every_motor_and_of_unknown_names(hand, loop, double):
    result = hand.request_reboot()
    assert loop.run(3.0, COMMAND, until=result.done)
    assert result.result().ok and len(result.result().driven) == 16
    assert all(registers(double, i) == expected_setup(i) and torque(double, i) == 1 for i in range(16))
    assert loop.worst_gap_periods <= 3
    with pytest.raises(KeyError, match=r"unknown motors \['99'\]; known: \['0', '1'"):
        hand.request_reboot(["99"])


def test_automatic_reboot_is_opt_in_and_limited(double):
    supervisor = SupervisorConfig(probe_interval_s=0.2, boot_s=0.05, auto_reboot_limit=1, auto_reboot_delay_s=0.1)
    with LeapHand(fast_config(double, supervisor=supervisor)) as hand:
        loop = ControlLoop(hand)
        double.set_hardware_error(2, 0b0000_0100)  # overheating
        assert loop.run(1.0, COMMAND, until=lambda: hand.status().motor_states[2] == "fault")
        assert loop.run(2.0, COMMAND, until=lambda: hand.status().ok)  # rebooted once, by itself
        assert registers(double, 2) == expected_setup(2) and torque(double, 2) == 1
        double.set_hardware_error(2, 0b0000_0100)
        loop.run(0.6, COMMAND)
        status = hand.status()
        assert status.motor_states[2] == "fault" and "automatic reboots used up (1)" in status.faults["2"]
        assert torque(double, 2) == 0 and hand.supervisor.health["2"].reboots == 1
        assert loop.worst_gap_periods <= 3


def test_all_motors_silent_never_stalls_the_loop(hand, loop, double):
    loop.run(0.1, COMMAND)
    for i in range(16):
        double.set_silent(i)
    assert loop.run(1.0, COMMAND, until=lambda: set(hand.status().motor_states) == {"absent"})
    loop.run(0.3, COMMAND)
    status = hand.status()
    assert not status.ok and all(status.stale) and not any(status.responding)
    for i in range(16):
        double.set_silent(i, False)
    assert loop.run(2.0, COMMAND, until=lambda: hand.status().ok)
    # They only stopped answering: found configured with torque on, driven again without a torque toggle.
    assert len(double.torque_on_log) == 16
    assert all(registers(double, i) == expected_setup(i) and torque(double, i) == 1 for i in range(16))
    assert loop.worst_gap_periods <= 3


@pytest.mark.parametrize("garble", ["crc", "length"])
def test_corrupt_fast_sync_read_falls_back_to_sync_read(double, garble):
    with LeapHand(fast_config(double, fast_sync_read=True)) as hand:
        loop = ControlLoop(hand)
        loop.run(0.1, COMMAND)
        double.garble_fast_sync_read(garble)
        assert loop.run(1.0, COMMAND, until=lambda: not hand.status().fast_sync_read)
        status = hand.status()
        assert "Fast Sync Read replies in a row failed to parse" in status.faults["bus"]
        assert f"({garble})" in status.faults["bus"]
        unparsed = status.failures["crc"] + status.failures["length"]
        loop.run(0.3, COMMAND)
        status = hand.status()
        assert status.ok and status.failures["crc"] + status.failures["length"] == unparsed  # none since
        assert loop.worst_gap_periods <= 3
