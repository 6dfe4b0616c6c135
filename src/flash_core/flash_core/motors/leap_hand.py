"""The LEAP hand on a Dynamixel bus: configuration, state in joint units, clamped position commands.

Conventions (LEAP hand, Shaw et al. 2023):
- Joint order and limits come from the hand data file (`flash_core.hands`, official numbering "0".."15");
  motor `motor_ids[i]` drives joint i.
- Joint angle 0 is the flat, open hand; the motors read pi there, so motor_rad = joint_rad + pi.
- Allegro commands use the same finger/joint order with 0 at the flat hand, so they map index-wise
  (the published LEAP API does the same: Allegro + pi = LEAP motor angle), then get clamped to LEAP limits.
- Current-based position mode (Operating_Mode 5) with Goal_Current as the current limit, in raw units
  of 1.34 mA: 350 for the Lite hand, 550 for the full hand.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from flash_core.hands.spec import load_spec
from flash_core.motors.dynamixel_tables import (
    CURRENT_MA_PER_UNIT,
    OPERATING_MODES,
    POSITION_RAD_PER_TICK,
    VELOCITY_RAD_S_PER_UNIT,
)
from flash_core.motors.motors_bus import BusConfig, Motor, MotorNotRespondingError, MotorsBus

CURRENT_LIMITS = {"lite": 350, "full": 550}
STATE_REGISTERS = ("Present_Current", "Present_Velocity", "Present_Position")  # adjacent: one read, 10 bytes


def allegro_to_leap(allegro_rad: np.ndarray) -> np.ndarray:
    """Allegro v4 joint angles (joint_0.0..joint_15.0) -> LEAP joint angles ("0".."15"), shape (..., 16).

    Both hands list index, middle, ring, thumb with four joints each, base joint first, and both read
    0 at the flat hand, so the map is joint for joint (the published LEAP API adds pi to an Allegro
    command to get motor angles, which is this map followed by LEAP's +pi). The kinematics differ,
    so this is a retargeting shortcut, not an equivalence; the result is clamped by the caller.
    """
    allegro_rad = np.asarray(allegro_rad, dtype=float)
    if allegro_rad.shape[-1:] != (16,):
        raise ValueError(f"expected 16 Allegro joint angles, got shape {allegro_rad.shape}")
    return allegro_rad.copy()


@dataclass
class LeapHandConfig:
    port: str = "/dev/ttyUSB0"
    baudrate: int = 4_000_000
    motor_ids: tuple[int, ...] = tuple(range(16))  # motor_ids[i] drives joint i of the hand data file
    motor_model: str = "xc330-m288"
    variant: str = "lite"  # "lite" | "full": picks the default current limit
    current_limit: int | None = None  # raw Goal_Current units (1.34 mA); None: 350 lite / 550 full
    kp: int = 600
    ki: int = 0
    kd: int = 200
    soft_joints: tuple[int, ...] = (0, 4, 8)  # the abduction joints get softer P and D gains
    soft_gain_scale: float = 0.75
    fast_sync_read: bool = True
    use_fake_hardware: bool = False  # simulated motors in memory instead of a serial port
    bus: BusConfig = field(default_factory=BusConfig)

    def __post_init__(self) -> None:
        if self.variant not in CURRENT_LIMITS:
            raise ValueError(f"unknown LEAP variant '{self.variant}'; known: {sorted(CURRENT_LIMITS)}")
        if self.current_limit is not None and not 0 < self.current_limit <= 1750:
            raise ValueError(f"current_limit must be in 1..1750 raw units, got {self.current_limit}")
        if min(self.kp, self.ki, self.kd) < 0:
            raise ValueError("gains must be non-negative")
        self.motor_ids = tuple(int(i) for i in self.motor_ids)

    @property
    def resolved_current_limit(self) -> int:
        return self.current_limit if self.current_limit is not None else CURRENT_LIMITS[self.variant]


@dataclass
class HandState:
    """One read of the hand, in joint order. Motors that did not answer keep their last value."""

    position_rad: np.ndarray  # (J,) joint angles (0 = open hand)
    velocity_rad_s: np.ndarray  # (J,)
    current_a: np.ndarray  # (J,) present motor current
    responding: np.ndarray  # (J,) bool: answered this read
    stamp_s: float  # time.time() of the read


@dataclass
class HandStatus:
    joint_names: tuple[str, ...]
    motor_ids: tuple[int, ...]
    responding: tuple[bool, ...]
    hardware_errors: dict[str, list[str]]  # joint name -> latched faults
    hardware_error_bits: dict[str, int]  # joint name -> Hardware_Error_Status register value
    failures: dict[str, int]  # failure kind -> count since connect
    retries: int
    reads: int  # read calls since connect (each may be several packets)
    writes: int  # write calls since connect

    @property
    def ok(self) -> bool:
        return all(self.responding) and not self.hardware_errors


class LeapHand:
    """A connected LEAP hand. `with LeapHand(cfg) as hand: hand.write_positions(q); hand.read_state()`."""

    def __init__(self, config: LeapHandConfig | None = None, bus: MotorsBus | None = None):
        self.config = config or LeapHandConfig()
        spec = load_spec("leap")
        self.joint_names: tuple[str, ...] = spec.joint_names
        n = len(self.joint_names)
        if len(self.config.motor_ids) != n:
            raise ValueError(f"{len(self.config.motor_ids)} motor IDs for the {n} joints of the LEAP hand")
        if any(not 0 <= i < n for i in self.config.soft_joints):
            raise ValueError(f"soft_joints {self.config.soft_joints} must index the {n} joints")
        self.lower_rad = np.array([lo for lo, _ in spec.joint_limits])
        self.upper_rad = np.array([hi for _, hi in spec.joint_limits])
        motors = {j: Motor(i, self.config.motor_model) for j, i in zip(self.joint_names, self.config.motor_ids)}
        self.bus = bus or self._make_bus(motors)
        self._state = HandState(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, bool), 0.0)

    def _make_bus(self, motors: dict[str, Motor]) -> MotorsBus:
        if self.config.use_fake_hardware:
            from flash_core.motors.fake_bus import FakeMotorsBus

            return FakeMotorsBus(motors, config=self.config.bus)
        from flash_core.motors.dynamixel import DynamixelMotorsBus

        return DynamixelMotorsBus(self.config.port, motors, self.config.baudrate, self.config.fast_sync_read,
                                  self.config.bus)

    # --- lifecycle ---
    def connect(self) -> None:
        self.bus.connect()
        self.configure()

    def configure(self) -> None:
        """Torque off, current-based position mode, gains, current limit, hold the present pose, torque on.

        A motor that does not answer is left out (and reported in `status()`); the others are configured.
        """
        cfg = self.config
        self._set_torque(False)
        for joint in self.joint_names:
            try:
                # Operating_Mode is in EEPROM: the motor only accepts it with torque off.
                self.bus.write("Operating_Mode", joint, OPERATING_MODES["current_based_position"])
            except MotorNotRespondingError:
                continue
        soft = {self.joint_names[i] for i in cfg.soft_joints}
        scale = {j: (cfg.soft_gain_scale if j in soft else 1.0) for j in self.joint_names}
        self.bus.sync_write("Position_P_Gain", {j: round(cfg.kp * scale[j]) for j in self.joint_names})
        self.bus.sync_write("Position_I_Gain", {j: cfg.ki for j in self.joint_names})
        self.bus.sync_write("Position_D_Gain", {j: round(cfg.kd * scale[j]) for j in self.joint_names})
        self.bus.sync_write("Goal_Current", {j: cfg.resolved_current_limit for j in self.joint_names})
        # Hold where the fingers are, so enabling torque does not jump to a stale goal.
        present = self.bus.sync_read("Present_Position")
        self.bus.sync_write("Goal_Position", present)
        self._set_torque(True)

    def _set_torque(self, on: bool) -> None:
        """Broadcast Torque_Enable and read it back, once more for motors that missed it.

        Sync writes get no reply; the read-back also makes sure the broadcast has left the adapter
        before the caller goes on (or closes the port).
        """
        for _ in range(2):
            (self.bus.enable_torque if on else self.bus.disable_torque)()
            if all(bool(v) == on for v in self.bus.sync_read("Torque_Enable").values()):
                return

    def close(self) -> None:
        """Torque off (best effort: the port may already be gone), then release the port."""
        if not self.bus.is_connected:
            return
        try:
            self._set_torque(False)
        finally:
            self.bus.disconnect()

    def __enter__(self) -> LeapHand:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- conversions ---
    @staticmethod
    def joint_to_ticks(position_rad: np.ndarray) -> np.ndarray:
        return np.round((np.asarray(position_rad) + math.pi) / POSITION_RAD_PER_TICK).astype(np.int64)

    @staticmethod
    def ticks_to_joint(ticks: np.ndarray) -> np.ndarray:
        return np.asarray(ticks, dtype=float) * POSITION_RAD_PER_TICK - math.pi

    def clamp(self, position_rad: np.ndarray) -> np.ndarray:
        return np.clip(position_rad, self.lower_rad, self.upper_rad)

    def _check_command(self, position_rad) -> np.ndarray:
        q = np.asarray(position_rad, dtype=float)
        if q.shape != (len(self.joint_names),):
            raise ValueError(f"expected {len(self.joint_names)} joint positions, got shape {q.shape}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"joint positions must be finite, got {q.tolist()}")
        return q

    # --- control ---
    def write_positions(self, position_rad) -> np.ndarray:
        """Command joint angles (J,) in rad, FLASH convention; returns what was sent after clamping."""
        q = self.clamp(self._check_command(position_rad))
        ticks = self.joint_to_ticks(q)
        self.bus.sync_write("Goal_Position", {j: int(t) for j, t in zip(self.joint_names, ticks)})
        return q

    def write_allegro_positions(self, allegro_rad) -> np.ndarray:
        """Command Allegro-convention angles; see `allegro_to_leap`. Returns what was sent."""
        return self.write_positions(allegro_to_leap(self._check_command(allegro_rad)))

    def read_state(self) -> HandState:
        """Positions, velocities and currents of all motors in one sync read."""
        values = self.bus.sync_read_block(STATE_REGISTERS)
        responding = np.array([j in values["Present_Position"] for j in self.joint_names])
        answered = [j for j in self.joint_names if j in values["Present_Position"]]
        # Motors that did not answer keep their previous values (flagged in `responding`).
        position, velocity, current = (self._state.position_rad.copy(), self._state.velocity_rad_s.copy(),
                                       self._state.current_a.copy())
        position[responding] = self.ticks_to_joint([values["Present_Position"][j] for j in answered])
        velocity[responding] = np.array([values["Present_Velocity"][j] for j in answered]) * VELOCITY_RAD_S_PER_UNIT
        current[responding] = np.array([values["Present_Current"][j] for j in answered]) * CURRENT_MA_PER_UNIT / 1e3
        self._state = HandState(position, velocity, current, responding, time.time())
        return self._state

    def status(self) -> HandStatus:
        s = self.bus.status
        return HandStatus(
            joint_names=self.joint_names,
            motor_ids=self.config.motor_ids,
            responding=tuple(j not in s.non_responding for j in self.joint_names),
            hardware_errors=dict(s.hardware_errors),
            hardware_error_bits=dict(s.hardware_error_bits),
            failures=dict(s.failures),
            retries=s.retries,
            reads=s.reads,
            writes=s.writes,
        )
