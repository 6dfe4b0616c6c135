"""`FakeMotorsBus`: simulated motors in memory, no serial port — for `use_fake_hardware` without a hand.

It runs the same `SimulatedMotor` as the byte-level test double, stepped by wall-clock time on every
transaction, so a driver sees positions move toward its goals. Nothing here talks to hardware.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from flash_core.motors.dynamixel.simulated_motor import SimulatedMotor, SimulatedMotorConfig
from flash_core.motors.motors_bus import BusConfig, Failure, Motor, MotorsBus, Reply


class FakeMotorsBus(MotorsBus):
    """In-memory stand-in for a motor bus (simulated motors, no bytes, no faults)."""

    def __init__(
        self,
        motors: Mapping[str, Motor],
        motor_config: SimulatedMotorConfig | None = None,
        config: BusConfig | None = None,
    ):
        super().__init__("fake", motors, config)
        self.simulated = {m.id: SimulatedMotor(m.id, m.model, motor_config) for m in motors.values()}
        self._connected = False
        self._last_step = time.monotonic()

    @property
    def is_connected(self) -> bool:
        return self._connected

    def _transfer_connect(self) -> None:
        self._connected = True
        self._last_step = time.monotonic()

    def _transfer_disconnect(self) -> None:
        self._connected = False

    def _advance(self) -> None:
        now = time.monotonic()
        for motor in self.simulated.values():
            motor.step(now - self._last_step)
        self._last_step = now

    def _motor_or_timeout(self, motor_id: int, advance: bool = True) -> SimulatedMotor | None:
        if advance:
            self._advance()
        return self.simulated.get(motor_id)

    def _transfer_ping(self, motor_id: int) -> Reply:
        motor = self._motor_or_timeout(motor_id)
        if motor is None:
            return Reply(failure=Failure.TIMEOUT)
        return Reply(data=motor.get("Model_Number").to_bytes(2, "little"), error=motor.alert_flag())

    def _transfer_read(self, motor_id: int, address: int, length: int, advance: bool = True) -> Reply:
        motor = self._motor_or_timeout(motor_id, advance)
        if motor is None:
            return Reply(failure=Failure.TIMEOUT)
        data, error = motor.read_bytes(address, length)
        return Reply(data=data, error=error)

    def _transfer_write(self, motor_id: int, address: int, data: bytes) -> Reply:
        motor = self._motor_or_timeout(motor_id)
        return Reply(error=motor.write_bytes(address, data)) if motor else Reply(failure=Failure.TIMEOUT)

    def _transfer_reboot(self, motor_id: int) -> Reply:
        motor = self._motor_or_timeout(motor_id)
        if motor is None:
            return Reply(failure=Failure.TIMEOUT)
        motor.power_cycle()
        return Reply()

    def _transfer_sync_read(self, motor_ids: Sequence[int], address: int, length: int) -> dict[int, Reply]:
        self._advance()  # once per transaction: all motors answer at the same instant
        return {i: self._transfer_read(i, address, length, advance=False) for i in motor_ids}

    def _transfer_sync_write(self, address: int, data: Mapping[int, bytes]) -> Reply:
        self._advance()
        for motor_id, value in data.items():
            if motor_id in self.simulated:
                self.simulated[motor_id].write_bytes(address, value)
        return Reply()
