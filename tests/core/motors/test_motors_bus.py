"""MotorsBus by register and motor name, on the Dynamixel implementation against the pty double."""

from __future__ import annotations

import time

import pytest

from flash_core.motors import BusConfig, Failure, Motor, MotorNotRespondingError, MotorRefusedError
from flash_core.motors.dynamixel.bus import DynamixelMotorsBus
from flash_core.motors.dynamixel.fake_bus import FakeMotorsBus

MOTORS = {f"m{i}": Motor(i, "xc330-m288") for i in range(4)}


@pytest.fixture
def double(raw_double):
    """The double alone: these tests turn torque on however they like (no LEAP hand audit)."""
    return raw_double


@pytest.fixture(params=[True, False], ids=["fast_sync_read", "sync_read"])
def bus(request, double):
    with DynamixelMotorsBus(double.port, MOTORS, fast_sync_read=request.param) as b:
        yield b


def test_read_and_write_by_name(bus, double):
    bus.write("Goal_Position", "m2", -1234)  # signed register
    assert double.motors[2].get("Goal_Position") == -1234
    assert bus.read("Goal_Position", "m2") == -1234
    assert bus.ping("m0") == bus.read("Model_Number", "m0") == 1240
    bus.sync_write("Position_P_Gain", {"m0": 10, "m3": 30})
    assert bus.sync_read("Position_P_Gain") == {"m0": 10, "m1": 800, "m2": 800, "m3": 30}
    assert bus.sync_read("Position_P_Gain", ["m3"]) == {"m3": 30}


def test_blocks_read_and_write_adjacent_registers_in_one_transaction(bus, double):
    with double.lock:
        double.motors[1].frozen = True
        double.motors[1].set("Present_Current", -7)
        double.motors[1].set("Present_Velocity", 321)
        double.motors[1].set("Present_Position", 4000)
    block = bus.sync_read_block(["Present_Position", "Present_Current", "Present_Velocity"], ["m1"])
    assert block.values == {"Present_Position": {"m1": 4000}, "Present_Current": {"m1": -7},
                            "Present_Velocity": {"m1": 321}}
    assert block.failed == {} and block.answered == ["m1"]
    before = double.instructions_received
    bus.write_block({"Position_D_Gain": 150, "Position_I_Gain": 0, "Position_P_Gain": 450}, "m2")
    assert double.instructions_received == before + 1
    # Registers with a gap (64 and 70) are read as their covering span.
    assert bus.read_block(["Torque_Enable", "Hardware_Error_Status", "Position_P_Gain"], "m2") == {
        "Torque_Enable": 0, "Hardware_Error_Status": 0, "Position_P_Gain": 450}
    with pytest.raises(ValueError, match="gaps"):
        bus.write_block({"Torque_Enable": 0, "Hardware_Error_Status": 0}, "m2")


def test_refused_write_is_a_clear_error(bus, double):
    bus.write("Torque_Enable", "m1", 1)
    with pytest.raises(MotorRefusedError, match="motor 'm1' .id 1. refused a write of Operating_Mode=5: access "
                                                "error .EEPROM registers take writes only with torque off") as info:
        bus.write("Operating_Mode", "m1", 5)
    assert info.value.code == 7
    bus.write("Torque_Enable", "m1", 0)
    bus.write("Operating_Mode", "m1", 5)
    assert bus.read("Operating_Mode", "m1") == 5


def test_bad_names_are_clear_errors(bus):
    with pytest.raises(KeyError, match="Goal_Positoin"):
        bus.read("Goal_Positoin", "m0")
    with pytest.raises(KeyError, match="m9.*known: .'m0', 'm1', 'm2', 'm3'"):
        bus.sync_read("Present_Position", ["m9"])


def test_silent_motor_read_fails_after_bounded_retries(double):
    double.set_silent(2)
    with DynamixelMotorsBus(double.port, MOTORS, config=BusConfig(max_retries=3)) as bus:
        with pytest.raises(MotorNotRespondingError, match="m2"):
            bus.read("Present_Position", "m2")
        assert bus.status.retries == 3
        assert bus.status.failures["timeout"] == 4
        first = bus.sync_read_block(["Present_Position"])  # one Fast Sync Read packet, cut short by m2
        assert first.answered == [] and set(first.failed) == set(MOTORS)
        second = bus.sync_read_block(["Present_Position"])  # then a plain Sync Read tells who is silent
        assert second.answered == ["m0", "m1", "m3"] and second.failed == {"m2": Failure.TIMEOUT}


def test_reply_timeout_follows_the_latency_timer(double):
    """The SDK assumes a 16 ms USB latency timer (34 ms per silent motor); the bus uses its own."""
    double.set_silent(2)
    for latency_ms in (1.0, 8.0):
        config = BusConfig(max_retries=0)
        with DynamixelMotorsBus(double.port, MOTORS, latency_timer_ms=latency_ms, config=config) as bus:
            start = time.monotonic()
            with pytest.raises(MotorNotRespondingError):
                bus.ping("m2")
            elapsed = time.monotonic() - start
            assert 2 * latency_ms / 1e3 < elapsed <= bus.transaction_timeout_s + 0.02  # 20 ms of slack for load


@pytest.mark.parametrize("garble", ["crc", "length"])
def test_unparseable_fast_sync_read_falls_back_to_sync_read(double, garble):
    with DynamixelMotorsBus(double.port, MOTORS, fast_fallback_after=3) as bus:
        assert bus.sync_read_block(["Present_Position"]).failed == {}
        double.garble_fast_sync_read(garble)
        answered = [len(bus.sync_read_block(["Present_Position"]).answered) for _ in range(6)]
        # Fast (all fail), then plain (all answer: the fast reply is to blame), three times over; then plain.
        assert answered == [0, 4, 0, 4, 0, 4] and not bus.fast_sync_read
        assert garble in bus.fast_sync_read_note and "3 Fast Sync Read replies in a row" in bus.fast_sync_read_note
        failures = dict(bus.status.failures)
        assert all(len(bus.sync_read_block(["Present_Position"]).answered) == 4 for _ in range(5))
        assert bus.status.failures == failures


def test_silent_motor_does_not_turn_fast_sync_read_off(double):
    with DynamixelMotorsBus(double.port, MOTORS, fast_fallback_after=1) as bus:
        bus.sync_read_block(["Present_Position"])
        double.set_silent(1)
        for _ in range(6):
            read = bus.sync_read_block(["Present_Position"])
        assert bus.fast_sync_read and "m1" in read.failed  # the plain reads showed the silent motor
        assert len(bus.sync_read_block(["Present_Position"], ["m0", "m2", "m3"]).answered) == 3


def test_bus_config_is_validated():
    with pytest.raises(ValueError, match="unique"):
        FakeMotorsBus({"a": Motor(1, "xc330-m288"), "b": Motor(1, "xc330-m288")})
    with pytest.raises(ValueError, match="unknown Dynamixel model"):
        FakeMotorsBus({"a": Motor(1, "xm999")})
    with pytest.raises(ValueError, match="at least one"):
        FakeMotorsBus({})
    with pytest.raises(ValueError, match="max_retries"):
        BusConfig(max_retries=-1)
