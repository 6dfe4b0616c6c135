"""Motor buses and the LEAP hand driver (no ROS).

- `MotorsBus`: named motors, registers by name, sync read/write, bounded retries, health status.
- `DynamixelMotorsBus`: Protocol 2.0 through the unmodified `dynamixel_sdk`.
- `FakeMotorsBus`: simulated motors in memory (`use_fake_hardware`).
- `DynamixelDouble`: a byte-level Protocol 2.0 test double on a pseudo-terminal (`flash leap-double`).
- `LeapHand`: the LEAP hand in joint units on any of the above.
"""

from flash_core.motors.leap_hand import HandState, HandStatus, LeapHand, LeapHandConfig, allegro_to_leap
from flash_core.motors.motors_bus import BusConfig, BusStatus, Failure, Motor, MotorNotRespondingError, MotorsBus, Reply

__all__ = [
    "BusConfig",
    "BusStatus",
    "Failure",
    "HandState",
    "HandStatus",
    "LeapHand",
    "LeapHandConfig",
    "Motor",
    "MotorNotRespondingError",
    "MotorsBus",
    "Reply",
    "allegro_to_leap",
]
