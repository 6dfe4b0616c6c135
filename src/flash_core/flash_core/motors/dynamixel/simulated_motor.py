"""A simulated Dynamixel: a control-table memory plus a simple position servo.

Shared by the byte-level test double (`double`) and the in-memory fake bus (`fake_bus`), so both
behave the same. It is a stand-in for users without a hand, not a motor model: the present
position moves toward the goal as a first-order lag with a speed cap, and the present current is
proportional to the remaining error, capped by Goal_Current in current-based position mode.

What the driver's safety relies on is modelled as the e-manual describes it: EEPROM registers (below
address 64) survive a power cycle or reboot while RAM returns to its defaults (torque off, default
gains, Goal_Current = Current_Limit); EEPROM writes are refused while torque is on; a hardware error
covered by the Shutdown register turns torque off and keeps it off until a reboot.
"""

from __future__ import annotations

from dataclasses import dataclass

from flash_core.motors.dynamixel import protocol as proto
from flash_core.motors.dynamixel.tables import (
    CONTROL_TABLE_SIZE,
    EEPROM_END_ADDRESS,
    MODEL_NUMBERS,
    OPERATING_MODES,
    SIGNED_REGISTERS,
    VELOCITY_RPM_PER_UNIT,
    control_table,
)


@dataclass
class SimulatedMotorConfig:
    time_constant_s: float = 0.05  # first-order lag of the position servo
    max_speed_ticks_s: float = 4096.0 * 2.0  # ~2 rev/s cap
    current_per_tick: float = 1.0  # raw current units per tick of position error
    initial_position_ticks: int = 2048  # pi rad: the LEAP open pose


# Shutdown register default of X-series motors: overheating, electrical shock and overload turn torque off.
DEFAULT_SHUTDOWN = 0b0011_0100


class SimulatedMotor:
    """One motor's control table and motion. Addresses and sizes come from the model's table."""

    def __init__(self, motor_id: int, model: str = "xc330-m288", config: SimulatedMotorConfig | None = None):
        self.id = motor_id
        self.model = model
        self.config = config or SimulatedMotorConfig()
        self.table = control_table(model)
        self.memory = bytearray(CONTROL_TABLE_SIZE)
        self.set("Model_Number", MODEL_NUMBERS[model])
        self.set("Firmware_Version", 52)
        self.set("ID", motor_id)
        self.set("Baud_Rate", 6)  # 4 Mbps
        self.set("Operating_Mode", OPERATING_MODES["position"])
        self.set("Current_Limit", 1750)
        self.set("Max_Position_Limit", 4095)
        self.set("Shutdown", DEFAULT_SHUTDOWN)
        self._position = float(self.config.initial_position_ticks)
        self.power_cycle()
        # Tests set present registers by hand and freeze the motor so the readings stay as set.
        self.frozen = False

    def power_cycle(self) -> None:
        """What power loss or a REBOOT does: RAM back to its defaults (torque off, errors cleared),
        EEPROM kept, the shaft where it was."""
        self.memory[EEPROM_END_ADDRESS:] = bytes(CONTROL_TABLE_SIZE - EEPROM_END_ADDRESS)
        self.set("Status_Return_Level", 2)
        self.set("Position_P_Gain", 800)
        self.set("Goal_Current", self.get("Current_Limit"))
        self.set("Present_Position", round(self._position))
        self.set("Goal_Position", round(self._position))
        self.set("Present_Input_Voltage", 120)
        self.set("Present_Temperature", 30)

    def set_hardware_error(self, bits: int) -> None:
        """Latch Hardware_Error_Status bits; those covered by Shutdown turn torque off."""
        self.set("Hardware_Error_Status", bits)
        if bits & self.get("Shutdown"):
            self.set("Torque_Enable", 0)

    # --- register access by name (for the simulation and for tests) ---
    def get(self, register: str) -> int:
        address, size = self.table[register]
        return int.from_bytes(self.memory[address : address + size], "little", signed=register in SIGNED_REGISTERS)

    def set(self, register: str, value: int) -> None:
        address, size = self.table[register]
        self.memory[address : address + size] = int(value).to_bytes(
            size, "little", signed=register in SIGNED_REGISTERS
        )

    # --- protocol-level access (what an instruction does); returns the status ERROR byte ---
    def read_bytes(self, address: int, length: int) -> tuple[bytes, int]:
        if address < 0 or address + length > CONTROL_TABLE_SIZE:
            return b"", proto.ERROR_ACCESS
        return bytes(self.memory[address : address + length]), self.alert_flag()

    def write_bytes(self, address: int, data: bytes) -> int:
        if address < 0 or address + len(data) > CONTROL_TABLE_SIZE:
            return proto.ERROR_ACCESS
        if address < EEPROM_END_ADDRESS and self.get("Torque_Enable"):
            # Real X-series motors refuse EEPROM writes while torque is on.
            return proto.ERROR_ACCESS | self.alert_flag()
        torque_address = self.table["Torque_Enable"][0]
        shut_down = self.get("Hardware_Error_Status") & self.get("Shutdown")
        if shut_down and address <= torque_address < address + len(data) and data[torque_address - address]:
            # In shutdown torque stays off until a reboot.
            return proto.ERROR_RESULT_FAIL | self.alert_flag()
        self.memory[address : address + len(data)] = data
        return self.alert_flag()

    def alert_flag(self) -> int:
        return proto.ERROR_ALERT_BIT if self.get("Hardware_Error_Status") else 0

    # --- motion ---
    def step(self, dt_s: float) -> None:
        """Advance the servo by dt_s seconds."""
        if dt_s <= 0.0 or self.frozen:
            return
        mode = self.get("Operating_Mode")
        servoing = self.get("Torque_Enable") and mode in (
            OPERATING_MODES["position"],
            OPERATING_MODES["extended_position"],
            OPERATING_MODES["current_based_position"],
        )
        # A latched hardware error turns torque off on real motors (default Shutdown settings).
        servoing = servoing and not self.get("Hardware_Error_Status")
        previous = self._position
        if servoing:
            error = self.get("Goal_Position") - self._position
            step = error * min(1.0, dt_s / self.config.time_constant_s)
            max_step = self.config.max_speed_ticks_s * dt_s
            self._position += max(-max_step, min(max_step, step))
            current = (self.get("Goal_Position") - self._position) * self.config.current_per_tick
            if mode == OPERATING_MODES["current_based_position"]:
                limit = abs(self.get("Goal_Current"))
                current = max(-limit, min(limit, current))
        else:
            current = 0.0
        self.set("Present_Position", round(self._position))
        velocity_ticks_s = (self._position - previous) / dt_s
        # Present_Velocity is in 0.229 rpm units: ticks/s -> rev/min -> units.
        self.set("Present_Velocity", round(velocity_ticks_s / 4096.0 * 60.0 / VELOCITY_RPM_PER_UNIT))
        self.set("Present_Current", round(current))
        self.set("Moving", int(abs(velocity_ticks_s) > 1.0))
