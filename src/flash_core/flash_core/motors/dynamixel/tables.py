"""Dynamixel X-series data: the XC330 control table, model numbers, unit scales, hardware-error bits.

Addresses and sizes come from the ROBOTIS e-manual's XC330 control table (Protocol 2.0); the unit
scales are the ones the LEAP hand's published API uses. Everything here is data: the bus looks
registers up by name, so no address appears anywhere else in the code.
"""

from __future__ import annotations

import math

# name -> (address, size in bytes)
XC330_CONTROL_TABLE: dict[str, tuple[int, int]] = {
    # EEPROM area: writable only while torque is off.
    "Model_Number": (0, 2),
    "Model_Information": (2, 4),
    "Firmware_Version": (6, 1),
    "ID": (7, 1),
    "Baud_Rate": (8, 1),
    "Return_Delay_Time": (9, 1),
    "Drive_Mode": (10, 1),
    "Operating_Mode": (11, 1),
    "Secondary_ID": (12, 1),
    "Protocol_Type": (13, 1),
    "Homing_Offset": (20, 4),
    "Moving_Threshold": (24, 4),
    "Temperature_Limit": (31, 1),
    "Max_Voltage_Limit": (32, 2),
    "Min_Voltage_Limit": (34, 2),
    "PWM_Limit": (36, 2),
    "Current_Limit": (38, 2),
    "Velocity_Limit": (44, 4),
    "Max_Position_Limit": (48, 4),
    "Min_Position_Limit": (52, 4),
    "Startup_Configuration": (60, 1),
    "PWM_Slope": (62, 1),
    "Shutdown": (63, 1),
    # RAM area.
    "Torque_Enable": (64, 1),
    "LED": (65, 1),
    "Status_Return_Level": (68, 1),
    "Registered_Instruction": (69, 1),
    "Hardware_Error_Status": (70, 1),
    "Velocity_I_Gain": (76, 2),
    "Velocity_P_Gain": (78, 2),
    "Position_D_Gain": (80, 2),
    "Position_I_Gain": (82, 2),
    "Position_P_Gain": (84, 2),
    "Feedforward_2nd_Gain": (88, 2),
    "Feedforward_1st_Gain": (90, 2),
    "Bus_Watchdog": (98, 1),
    "Goal_PWM": (100, 2),
    "Goal_Current": (102, 2),
    "Goal_Velocity": (104, 4),
    "Profile_Acceleration": (108, 4),
    "Profile_Velocity": (112, 4),
    "Goal_Position": (116, 4),
    "Realtime_Tick": (120, 2),
    "Moving": (122, 1),
    "Moving_Status": (123, 1),
    "Present_PWM": (124, 2),
    "Present_Current": (126, 2),
    "Present_Velocity": (128, 4),
    "Present_Position": (132, 4),
    "Velocity_Trajectory": (136, 4),
    "Position_Trajectory": (140, 4),
    "Present_Input_Voltage": (144, 2),
    "Present_Temperature": (146, 1),
    "Backup_Ready": (147, 1),
}

# Registers holding two's-complement values; all others are unsigned.
SIGNED_REGISTERS: frozenset[str] = frozenset(
    {
        "Homing_Offset",
        "Goal_PWM",
        "Goal_Current",
        "Goal_Velocity",
        "Goal_Position",
        "Present_PWM",
        "Present_Current",
        "Present_Velocity",
        "Present_Position",
        "Velocity_Trajectory",
        "Position_Trajectory",
        "Max_Position_Limit",
        "Min_Position_Limit",
    }
)

# First address of the RAM area: writes below it need torque off (the motor answers "access error").
EEPROM_END_ADDRESS = 64
CONTROL_TABLE_SIZE = 148

CONTROL_TABLES: dict[str, dict[str, tuple[int, int]]] = {
    "xc330-m288": XC330_CONTROL_TABLE,
    "xc330-t288": XC330_CONTROL_TABLE,
}

# Model numbers reported by PING and register 0 (ROBOTIS e-manual).
MODEL_NUMBERS: dict[str, int] = {"xc330-m288": 1240, "xc330-t288": 1220}
# Other X-series models, only to name a motor that reports one ("1020 (xm430-w350)") in messages.
OTHER_MODEL_NUMBERS: dict[str, int] = {
    "xm430-w350": 1020,
    "xl430-w250": 1060,
    "xl330-m077": 1190,
    "xl330-m288": 1200,
    "xc330-t181": 1210,
    "xc330-m181": 1230,
}

# Operating_Mode values.
OPERATING_MODES: dict[str, int] = {
    "current": 0,
    "velocity": 1,
    "position": 3,
    "extended_position": 4,
    "current_based_position": 5,
    "pwm": 16,
}

# Hardware_Error_Status (register 70) bit -> name. A status packet whose error byte has bit 7 (alert) set
# means one of these is latched; it stays until the motor reboots.
HARDWARE_ERROR_BITS: dict[int, str] = {
    0: "input_voltage",
    2: "overheating",
    3: "motor_encoder",
    4: "electrical_shock",
    5: "overload",
}

# Unit scales (raw register unit -> SI).
POSITION_RAD_PER_TICK = 2.0 * math.pi / 4096.0
VELOCITY_RPM_PER_UNIT = 0.229
VELOCITY_RAD_S_PER_UNIT = VELOCITY_RPM_PER_UNIT * 2.0 * math.pi / 60.0
CURRENT_MA_PER_UNIT = 1.34


def decode_hardware_error(bits: int) -> list[str]:
    """Names of the faults latched in a Hardware_Error_Status value (unknown bits named `bit<N>`)."""
    names = []
    for bit in range(8):
        if bits & (1 << bit):
            names.append(HARDWARE_ERROR_BITS.get(bit, f"bit{bit}"))
    return names


def control_table(model: str) -> dict[str, tuple[int, int]]:
    """The control table of a motor model, or a ValueError naming the known models."""
    try:
        return CONTROL_TABLES[model]
    except KeyError:
        raise ValueError(f"unknown Dynamixel model '{model}'; known: {sorted(CONTROL_TABLES)}") from None


def describe_model_number(number: int) -> str:
    """'1240 (xc330-m288)' for a known model number, else the number alone."""
    names = [m for m, n in {**OTHER_MODEL_NUMBERS, **MODEL_NUMBERS}.items() if n == number]
    return f"{number} ({names[0]})" if names else str(number)
