"""LeapHand through the unmodified SDK against the pty double: configuration, units, clamping, commands.
(Faults: test_leap_faults.py.)

Tests on the `hand` fixture run twice (see conftest): with Fast Sync Read and with plain Sync Read.
"""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest

from flash_core.hands.spec import load_spec
from flash_core.motors import LeapHand, LeapHandConfig
from tests.core.motors.conftest import expected_setup, registers

LEAP = load_spec("leap")
LOWER = np.array([lo for lo, _ in LEAP.joint_limits])
UPPER = np.array([hi for _, hi in LEAP.joint_limits])


def settle(hand, seconds=0.6):
    time.sleep(seconds)  # ~12 time constants of the simulated servo
    return hand.read_state()


def test_start_configures_verifies_then_torques_on_each_motor(hand, double):
    for i in range(16):
        assert registers(double, i) == expected_setup(i)
        assert double.motors[i].get("Torque_Enable") == 1
    # One torque-on per motor, each a write to that motor after its setup (conftest audits the rest).
    assert sorted(e.motor_id for e in double.torque_on_log) == list(range(16))
    status = hand.status()
    assert status.ok and set(status.motor_states) == {"driven"} and all(status.torque_enabled)
    assert status.faults == {}


def test_full_hand_current_limit(double):
    with LeapHand(LeapHandConfig(port=double.port, variant="full")):
        assert {m.get("Goal_Current") for m in double.motors.values()} == {550}


def test_state_is_converted_to_joint_units(hand, double):
    rng = np.random.default_rng(0)
    ticks = rng.integers(0, 4096, 16)
    velocity = rng.integers(-300, 300, 16)
    current = rng.integers(-500, 500, 16)
    # current -1 (FF FF) then velocity -3 (FD FF FF FF) puts FF FF FD in the reply: it must be stuffed.
    current[2], velocity[2] = -1, -3
    with double.lock:
        for i, motor in double.motors.items():
            motor.frozen = True
            motor.set("Present_Position", int(ticks[i]))
            motor.set("Present_Velocity", int(velocity[i]))
            motor.set("Present_Current", int(current[i]))
    state = hand.read_state()
    assert state.responding.all()
    np.testing.assert_allclose(state.position_rad, ticks * (2 * math.pi / 4096) - math.pi)
    np.testing.assert_allclose(state.velocity_rad_s, velocity * 0.229 * 2 * math.pi / 60)
    np.testing.assert_allclose(state.current_a, current * 1.34e-3)


def test_commands_are_clamped_and_move_the_motors(hand, double):
    command = np.linspace(-2.0, 2.5, 16)  # several joints beyond their limits
    sent = hand.write_positions(command)
    np.testing.assert_allclose(sent, np.clip(command, LOWER, UPPER))
    assert (sent != command).any()
    expected_ticks = np.round((sent + math.pi) * 4096 / (2 * math.pi))
    time.sleep(0.05)
    goal_ticks = [double.motors[i].get("Goal_Position") for i in range(16)]
    np.testing.assert_array_equal(goal_ticks, expected_ticks)
    state = settle(hand)
    np.testing.assert_allclose(state.position_rad, sent, atol=3 * 2 * math.pi / 4096)


def test_open_pose_is_pi_on_the_motors(hand, double):
    hand.write_positions(np.zeros(16))
    time.sleep(0.05)
    assert {double.motors[i].get("Goal_Position") for i in range(16)} == {2048}


def test_allegro_command_maps_joint_for_joint(hand, double):
    allegro = np.array([0.1, 0.5, 0.5, 0.5] * 3 + [0.9, 0.3, 0.4, 0.5])
    sent = hand.write_allegro_positions(allegro)
    np.testing.assert_allclose(sent, allegro)


def test_command_is_resent_every_cycle(hand, double):
    hand.write_positions(np.full(16, 0.2))
    time.sleep(0.05)
    with double.lock:
        double.motors[9].set("Goal_Position", 0)  # as if the broadcast had been lost on the way
    hand.step()
    time.sleep(0.05)
    assert double.motors[9].get("Goal_Position") == round((0.2 + math.pi) * 4096 / (2 * math.pi))


def test_close_turns_torque_off(double):
    with LeapHand(LeapHandConfig(port=double.port)):
        assert {m.get("Torque_Enable") for m in double.motors.values()} == {1}
    assert {m.get("Torque_Enable") for m in double.motors.values()} == {0}


def test_lost_port_does_not_raise(hand, double):
    hand.read_state()
    double.stop()
    state = hand.read_state()  # must not raise
    assert not state.responding.any()
    hand.write_positions(np.zeros(16))  # nor this
    assert sum(hand.status().failures.values()) > 0


def test_fake_hardware_moves_without_a_port():
    with LeapHand(LeapHandConfig(use_fake_hardware=True, port="/nonexistent")) as hand:
        assert hand.read_state().responding.all()
        hand.write_positions(np.full(16, 0.5))
        state = settle(hand)
        np.testing.assert_allclose(state.position_rad, 0.5, atol=3e-3)
        assert hand.status().ok


def test_missing_port_is_a_clear_error():
    with pytest.raises(ConnectionError, match="/dev/does-not-exist"):
        LeapHand(LeapHandConfig(port="/dev/does-not-exist")).connect()


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="variant"):
        LeapHandConfig(variant="huge")
    with pytest.raises(ValueError, match="motor IDs"):
        LeapHand(LeapHandConfig(motor_ids=(0, 1, 2), use_fake_hardware=True))
    with pytest.raises(ValueError, match=r"allow_missing names motor IDs \[20\] that are not in motor_ids"):
        LeapHandConfig(allow_missing=(3, 20))
    with pytest.raises(ValueError, match="cycle_budget_periods"):
        LeapHandConfig(cycle_budget_periods=2.5)


@pytest.mark.parametrize("shape", [(15,), (2, 16)])
def test_bad_command_names_the_joint_and_the_shape(hand, shape):
    expected = r"expected 16 joint positions \(joints '0'..'15' in order\), got shape " + re.escape(str(shape))
    with pytest.raises(ValueError, match=expected):
        hand.write_positions(np.zeros(shape))
    q = np.zeros(16)
    q[7] = np.nan
    with pytest.raises(ValueError, match="finite, got '7'=nan"):
        hand.step(q)


def test_falls_back_to_sync_read_without_fast_sync_read_firmware():
    from flash_core.motors.dynamixel.double import DynamixelDouble

    with DynamixelDouble(range(16), fast_sync_read=False) as old_firmware:
        with LeapHand(LeapHandConfig(port=old_firmware.port, fast_sync_read=True)) as hand:
            hand.write_positions(np.full(16, 0.2))
            state = settle(hand)
            assert hand.bus.fast_sync_read is False and "do not answer Fast Sync Read" in hand.bus.fast_sync_read_note
            assert state.responding.all() and hand.status().ok
            np.testing.assert_allclose(state.position_rad, 0.2, atol=3e-3)


def test_a_rate_the_reply_timeout_cannot_keep_up_with_is_reported(double):
    with LeapHand(LeapHandConfig(port=double.port, period_s=0.002)) as hand:
        assert any("lower the rate or the USB latency timer" in note for note in hand.notes)
    with LeapHand(LeapHandConfig(port=double.port)) as hand:
        assert hand.notes == []
