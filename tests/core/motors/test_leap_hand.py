"""LeapHand through the unmodified SDK against the pty double: configuration, units, clamping, faults.

Every test runs twice (see conftest): with Fast Sync Read and with plain Sync Read.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from flash_core.hands.spec import load_spec
from flash_core.motors import BusConfig, LeapHand, LeapHandConfig

LEAP = load_spec("leap")
LOWER = np.array([lo for lo, _ in LEAP.joint_limits])
UPPER = np.array([hi for _, hi in LEAP.joint_limits])


def settle(hand, seconds=0.6):
    time.sleep(seconds)  # ~12 time constants of the simulated servo
    return hand.read_state()


def test_configure_sets_mode_gains_and_current_limit(hand, double):
    for i, motor in double.motors.items():
        soft = i in (0, 4, 8)  # abduction joints: 0.75 x gains
        assert motor.get("Operating_Mode") == 5
        assert motor.get("Position_P_Gain") == (450 if soft else 600)
        assert motor.get("Position_I_Gain") == 0
        assert motor.get("Position_D_Gain") == (150 if soft else 200)
        assert motor.get("Goal_Current") == 350
        assert motor.get("Torque_Enable") == 1


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


@pytest.mark.parametrize("bad", [np.zeros(15), np.full(16, np.nan), np.zeros((2, 16))])
def test_bad_commands_are_refused(hand, bad):
    with pytest.raises(ValueError):
        hand.write_positions(bad)


def test_corrupt_reply_is_counted_and_recovered(hand, double):
    hand.write_positions(np.full(16, 0.3))
    settle(hand)
    double.corrupt_next_replies(1)
    state = hand.read_state()
    assert state.responding.all()
    np.testing.assert_allclose(state.position_rad, 0.3, atol=3e-3)
    status = hand.status()
    assert status.failures["crc"] >= 1 and status.retries >= 1 and status.ok


def test_short_reply_is_caught_by_its_length(hand, double):
    double.shorten_next_replies(1)
    state = hand.read_state()
    assert state.responding.all()
    assert hand.status().failures["length"] == 1


def test_silent_motor_is_reported_then_comes_back(double, request):
    config = LeapHandConfig(port=double.port, bus=BusConfig(probe_interval_s=0.5))
    with LeapHand(config) as hand:
        before = hand.read_state().position_rad.copy()
        double.set_silent(3)
        hand.write_positions(np.full(16, 0.4))
        state = settle(hand)
        assert not state.responding[3] and state.responding[np.arange(16) != 3].all()
        assert state.position_rad[3] == before[3]  # last known value, flagged as not responding
        np.testing.assert_allclose(np.delete(state.position_rad, 3), 0.4, atol=3e-3)
        status = hand.status()
        assert status.responding[3] is False and not status.ok
        assert status.failures["timeout"] + status.failures["crc"] >= 1
        # While it is out, reads skip it (no timeout per cycle) ...
        failures = dict(status.failures)
        hand.read_state()
        assert hand.status().failures == failures
        # ... and it is probed again and rejoins once it answers.
        double.set_silent(3, False)
        time.sleep(0.55)
        hand.read_state()
        state = hand.read_state()
        assert state.responding.all() and hand.status().ok


def test_hardware_error_bits_are_decoded(hand, double):
    double.set_hardware_error(5, 0b0010_0100)
    state = hand.read_state()
    assert state.responding.all()
    status = hand.status()
    assert status.hardware_errors == {"5": ["overheating", "overload"]}
    assert status.hardware_error_bits == {"5": 0b0010_0100}
    assert not status.ok


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


def test_falls_back_to_sync_read_without_fast_sync_read_firmware():
    from flash_core.motors.dynamixel_double import DynamixelDouble

    with DynamixelDouble(range(16), fast_sync_read=False) as old_firmware:
        with LeapHand(LeapHandConfig(port=old_firmware.port, fast_sync_read=True)) as hand:
            assert hand.bus.fast_sync_read is False
            hand.write_positions(np.full(16, 0.2))
            state = settle(hand)
            assert state.responding.all() and hand.status().ok
            np.testing.assert_allclose(state.position_rad, 0.2, atol=3e-3)


def test_unplugged_hand_costs_one_probe_per_cycle(double):
    config = LeapHandConfig(port=double.port, bus=BusConfig(probe_interval_s=0.0, max_retries=0))
    with LeapHand(config) as hand:
        for i in range(16):
            double.set_silent(i)
        assert not hand.read_state().responding.any()
        before = double.instructions_received
        state = hand.read_state()  # nobody left to sync-read: only the most overdue motor is pinged
        deadline = time.monotonic() + 2.0
        while double.instructions_received == before and time.monotonic() < deadline:
            time.sleep(0.01)  # let the double's thread take the packet in
        time.sleep(0.05)
        assert double.instructions_received - before == 1
        assert not state.responding.any()
        for i in range(16):
            double.set_silent(i, False)
        for _ in range(16):  # one motor rejoins per cycle
            hand.read_state()
        assert hand.read_state().responding.all()
