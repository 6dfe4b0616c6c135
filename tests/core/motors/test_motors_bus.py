"""MotorsBus by register and motor name, on the Dynamixel implementation against the pty double."""

from __future__ import annotations

import pytest

from flash_core.motors import BusConfig, Motor, MotorNotRespondingError
from flash_core.motors.dynamixel import DynamixelMotorsBus
from flash_core.motors.fake_bus import FakeMotorsBus

MOTORS = {f"m{i}": Motor(i, "xc330-m288") for i in range(4)}


@pytest.fixture(params=[True, False], ids=["fast_sync_read", "sync_read"])
def bus(request, double):
    with DynamixelMotorsBus(double.port, MOTORS, fast_sync_read=request.param) as b:
        yield b


def test_read_and_write_by_name(bus, double):
    bus.write("Goal_Position", "m2", -1234)  # signed register
    assert double.motors[2].get("Goal_Position") == -1234
    assert bus.read("Goal_Position", "m2") == -1234
    assert bus.read("Model_Number", "m0") == 1240
    bus.sync_write("Position_P_Gain", {"m0": 10, "m3": 30})
    assert bus.sync_read("Position_P_Gain") == {"m0": 10, "m1": 800, "m2": 800, "m3": 30}
    assert bus.sync_read("Position_P_Gain", ["m3"]) == {"m3": 30}


def test_block_read_splits_adjacent_registers(bus, double):
    with double.lock:
        double.motors[1].frozen = True
        double.motors[1].set("Present_Current", -7)
        double.motors[1].set("Present_Velocity", 321)
        double.motors[1].set("Present_Position", 4000)
    block = bus.sync_read_block(["Present_Position", "Present_Current", "Present_Velocity"], ["m1"])
    assert block == {"Present_Position": {"m1": 4000}, "Present_Current": {"m1": -7}, "Present_Velocity": {"m1": 321}}


def test_eeprom_write_with_torque_on_is_a_clear_error(bus):
    bus.enable_torque(["m1"])
    assert bus.read("Torque_Enable", "m1") == 1
    with pytest.raises(RuntimeError, match="torque off"):
        bus.write("Operating_Mode", "m1", 5)
    bus.disable_torque(["m1"])
    bus.write("Operating_Mode", "m1", 5)
    assert bus.read("Operating_Mode", "m1") == 5


def test_bad_names_are_clear_errors(bus):
    with pytest.raises(KeyError, match="Goal_Positoin"):
        bus.read("Goal_Positoin", "m0")
    with pytest.raises(KeyError, match="m9"):
        bus.sync_read("Present_Position", ["m9"])
    with pytest.raises(ValueError, match="not adjacent"):
        bus.sync_read_block(["Present_Position", "Goal_Position"])


def test_silent_motor_read_fails_after_bounded_retries(double):
    double.set_silent(2)
    with DynamixelMotorsBus(double.port, MOTORS, config=BusConfig(max_retries=3)) as bus:
        with pytest.raises(MotorNotRespondingError, match="m2"):
            bus.read("Present_Position", "m2")
        assert bus.status.retries == 3
        assert bus.status.failures["timeout"] == 4
        assert bus.status.non_responding == {"m2"}


def test_bus_config_is_validated():
    with pytest.raises(ValueError, match="unique"):
        FakeMotorsBus({"a": Motor(1, "xc330-m288"), "b": Motor(1, "xc330-m288")})
    with pytest.raises(ValueError, match="unknown Dynamixel model"):
        FakeMotorsBus({"a": Motor(1, "xm999")})
    with pytest.raises(ValueError, match="at least one"):
        FakeMotorsBus({})
