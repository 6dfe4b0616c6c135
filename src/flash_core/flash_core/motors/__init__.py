"""Motor buses and the LEAP hand driver (no ROS).

- `MotorsBus`: named motors, registers by name, group reads/writes, bounded retries, failure counts.
- `dynamixel`: Protocol 2.0 codec and control tables, `DynamixelMotorsBus` through the unmodified
  `dynamixel_sdk`, simulated motors (`FakeMotorsBus` for `use_fake_hardware`) and `DynamixelDouble`, a
  byte-level test double on a pseudo-terminal (`flash leap-double`).
- `MotorSupervisor`: keeps each motor configured, verified and torqued on, within a cycle's time budget.
- `LeapHand`: the LEAP hand in joint units on any of the above; `FaultLog` turns its faults into log lines.
"""

from flash_core.motors.fault_log import FaultLine, FaultLog
from flash_core.motors.leap_hand import HandState, HandStatus, LeapHand, LeapHandConfig, allegro_to_leap
from flash_core.motors.motors_bus import (
    BusConfig,
    BusStatus,
    Failure,
    Motor,
    MotorNotRespondingError,
    MotorRefusedError,
    MotorsBus,
    Reply,
    SyncRead,
)
from flash_core.motors.supervisor import (
    HandStartupError,
    MotorState,
    MotorSupervisor,
    RebootResult,
    SupervisorConfig,
)

__all__ = [
    "BusConfig",
    "BusStatus",
    "Failure",
    "FaultLine",
    "FaultLog",
    "HandStartupError",
    "HandState",
    "HandStatus",
    "LeapHand",
    "LeapHandConfig",
    "Motor",
    "MotorNotRespondingError",
    "MotorRefusedError",
    "MotorState",
    "MotorSupervisor",
    "MotorsBus",
    "RebootResult",
    "Reply",
    "SupervisorConfig",
    "SyncRead",
    "allegro_to_leap",
]
