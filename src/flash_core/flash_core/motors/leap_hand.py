"""The LEAP hand on a Dynamixel bus: verified start-up, a control cycle with a time budget, health, reboots.

Conventions (LEAP hand, Shaw et al. 2023):
- Joint order and limits come from the hand data file (`flash_core.hands`, official numbering "0".."15");
  motor `motor_ids[i]` drives joint i.
- Joint angle 0 is the flat, open hand; the motors read pi there, so motor_rad = joint_rad + pi.
- Allegro commands use the same finger/joint order with 0 at the flat hand, so they map index-wise
  (the published LEAP API does the same: Allegro + pi = LEAP motor angle), then get clamped to LEAP limits.
- Current-based position mode (Operating_Mode 5) with Goal_Current as the current limit, in raw units
  of 1.34 mA: 350 for the Lite hand, 550 for the full hand.

Safety (see `supervisor`): at start every motor must answer with the XC330 model number (or be listed in
`allow_missing`); each is configured with torque off, read back, and only then torqued on, by a write
addressed to it. One control cycle (`step`) sends the command to the driven motors, reads their state
and health (torque, hardware errors) and spends what is left of its time budget on bringing the others
back; so a cycle ends within `cycle_budget_periods` periods, whatever the faults.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from flash_core.hands.spec import load_spec
from flash_core.motors.dynamixel.tables import (
    CURRENT_MA_PER_UNIT,
    MODEL_NUMBERS,
    OPERATING_MODES,
    POSITION_RAD_PER_TICK,
    VELOCITY_RAD_S_PER_UNIT,
    decode_hardware_error,
)
from flash_core.motors.motors_bus import (
    BusConfig,
    Motor,
    MotorNotRespondingError,
    MotorRefusedError,
    MotorsBus,
    SyncRead,
)
from flash_core.motors.supervisor import HEALTH_REGISTERS, MotorState, MotorSupervisor, SupervisorConfig

CURRENT_LIMITS = {"lite": 350, "full": 550}
STATE_REGISTERS = ("Present_Current", "Present_Velocity", "Present_Position")  # adjacent: one read, 10 bytes
# A joint whose last reading is older than this many control periods is stale (status.ok goes false).
STALE_AFTER_PERIODS = 3


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
    allow_missing: tuple[int, ...] = ()  # motor IDs the hand may start and run without (reported, not driven)
    period_s: float = 0.01  # the control period `step` is called at (the node: 1 / rate_hz)
    # Bus time one cycle may take, in periods: optional work starts only if its worst case ends within it,
    # so a cycle ends by then and joint_states gaps stay within 1 + this many periods (+ scheduling).
    cycle_budget_periods: float = 1.5
    fast_sync_read: bool = True
    latency_timer_ms: float = 1.0  # USB-serial latency timer the reply timeouts assume (raised to sysfs's)
    use_fake_hardware: bool = False  # simulated motors in memory instead of a serial port
    bus: BusConfig = field(default_factory=BusConfig)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)

    def __post_init__(self) -> None:
        if self.variant not in CURRENT_LIMITS:
            raise ValueError(f"unknown LEAP variant '{self.variant}'; known: {sorted(CURRENT_LIMITS)}")
        if self.current_limit is not None and not 0 < self.current_limit <= 1750:
            raise ValueError(f"current_limit must be in 1..1750 raw units, got {self.current_limit}")
        if min(self.kp, self.ki, self.kd) < 0:
            raise ValueError("gains must be non-negative")
        if self.period_s <= 0 or not 0 < self.cycle_budget_periods <= 2:
            raise ValueError(f"period_s must be > 0 and cycle_budget_periods in (0, 2], got {self.period_s}, "
                             f"{self.cycle_budget_periods}")
        self.motor_ids = tuple(int(i) for i in self.motor_ids)
        self.allow_missing = tuple(int(i) for i in self.allow_missing)
        strangers = sorted(set(self.allow_missing) - set(self.motor_ids))
        if strangers:
            raise ValueError(f"allow_missing names motor IDs {strangers} that are not in motor_ids "
                             f"{list(self.motor_ids)}")

    @property
    def resolved_current_limit(self) -> int:
        return self.current_limit if self.current_limit is not None else CURRENT_LIMITS[self.variant]


@dataclass
class HandState:
    """One read of the hand, in joint order. Motors that did not answer keep their last value (NaN if
    never read)."""

    position_rad: np.ndarray  # (J,) joint angles (0 = open hand)
    velocity_rad_s: np.ndarray  # (J,)
    current_a: np.ndarray  # (J,) present motor current
    responding: np.ndarray  # (J,) bool: answered this read
    known: np.ndarray  # (J,) bool: read at least once since connect
    stamp_s: float  # time.time() of the read


@dataclass(frozen=True)
class HandStatus:
    """Health after the last cycle, in joint order."""

    joint_names: tuple[str, ...]
    motor_ids: tuple[int, ...]
    motor_states: tuple[str, ...]  # MotorState values: "driven", "absent", "fault", ...
    torque_enabled: tuple[bool, ...]  # Torque_Enable as last read
    responding: tuple[bool, ...]  # answered the last cycle's read
    stale: tuple[bool, ...]  # last reading older than STALE_AFTER_PERIODS periods, or none yet
    hardware_errors: dict[str, list[str]]  # joint name -> latched faults
    hardware_error_bits: dict[str, int]  # joint name -> Hardware_Error_Status register value
    failures: dict[str, int]  # failure kind -> count since connect
    retries: int
    reads: int  # read calls since connect (each may be several packets)
    writes: int  # write calls since connect
    fast_sync_read: bool  # False once the bus fell back to plain Sync Read
    faults: dict[str, str]  # what is wrong now, one line each: joint name -> message, "bus" -> message

    @property
    def driven(self) -> tuple[bool, ...]:
        return tuple(s == MotorState.DRIVEN.value for s in self.motor_states)

    @property
    def ok(self) -> bool:
        """Every joint is driven as commanded: configured, verified, torque on, no hardware error, read
        within the last STALE_AFTER_PERIODS periods."""
        return all(self.driven) and not any(self.stale)


class LeapHand:
    """A connected LEAP hand: `with LeapHand(cfg) as hand:` then `hand.step(q)` once per period."""

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
        self.supervisor = MotorSupervisor(self.bus, self._setup(), MODEL_NUMBERS[self.config.motor_model],
                                          self.config.supervisor)
        self.notes: list[str] = []  # what connect() found worth telling the user
        self._command_ticks: np.ndarray | None = None  # (J,) last command, resent every cycle
        self._last_read_s = np.full(n, -np.inf)  # time.monotonic() of each joint's last reading
        nan = np.full(n, np.nan)
        self._state = HandState(nan, nan.copy(), nan.copy(), np.zeros(n, bool), np.zeros(n, bool), 0.0)

    def _make_bus(self, motors: dict[str, Motor]) -> MotorsBus:
        if self.config.use_fake_hardware:
            from flash_core.motors.dynamixel.fake_bus import FakeMotorsBus

            return FakeMotorsBus(motors, config=self.config.bus)
        from flash_core.motors.dynamixel.bus import DynamixelMotorsBus

        return DynamixelMotorsBus(self.config.port, motors, self.config.baudrate, self.config.fast_sync_read,
                                  self.config.bus, latency_timer_ms=self.config.latency_timer_ms)

    def _setup(self) -> dict[str, dict[str, int]]:
        """What each motor must hold before its torque goes on."""
        cfg = self.config
        soft = {self.joint_names[i] for i in cfg.soft_joints}
        setup = {}
        for joint in self.joint_names:
            scale = cfg.soft_gain_scale if joint in soft else 1.0
            setup[joint] = {
                "Operating_Mode": OPERATING_MODES["current_based_position"],
                "Position_P_Gain": round(cfg.kp * scale),
                "Position_I_Gain": cfg.ki,
                "Position_D_Gain": round(cfg.kd * scale),
                "Goal_Current": cfg.resolved_current_limit,
            }
        return setup

    # --- lifecycle ---
    def connect(self) -> None:
        """Open the port, verify and configure every motor, torque the verified ones on, read the state.

        Raises HandStartupError (port closed, torque off) when a motor is missing (and not in
        allow_missing), reports another model, or refuses its configuration."""
        self.bus.connect()
        self.notes = list(getattr(self.bus, "notes", []))
        by_id = dict(zip(self.config.motor_ids, self.joint_names))
        try:
            self.supervisor.start(allow_missing=[by_id[i] for i in self.config.allow_missing])
        except BaseException:
            self.bus.disconnect()
            raise
        budget_s = self.config.cycle_budget_periods * self.config.period_s
        if 2 * self.bus.transaction_timeout_s > budget_s:
            self.notes.append(
                f"a cycle may take {budget_s * 1e3:.0f} ms but one unanswered transaction takes "
                f"{self.bus.transaction_timeout_s * 1e3:.0f} ms: motors that stop answering may never be brought "
                "back; lower the rate or the USB latency timer"
            )
        self.step()  # a first reading, so state and status are current from the start

    def close(self) -> None:
        """Torque off on every motor (best effort: the port may already be gone), then release the port."""
        if not self.bus.is_connected:
            return
        try:
            self.bus.disable_torque()  # broadcast: reaches motors that stopped answering too
            for motor in self.supervisor.answering():  # then an acknowledged write to each that answers
                try:
                    self.bus.write("Torque_Enable", motor, 0)
                except (MotorNotRespondingError, MotorRefusedError):
                    pass
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
        n = len(self.joint_names)
        if q.shape != (n,):
            raise ValueError(f"expected {n} joint positions (joints {self.joint_names[0]!r}..{self.joint_names[-1]!r} "
                             f"in order), got shape {q.shape}")
        bad = [f"{self.joint_names[i]!r}={q[i]}" for i in np.flatnonzero(~np.isfinite(q))]
        if bad:
            raise ValueError(f"joint positions must be finite, got {', '.join(bad)}")
        return q

    # --- control ---
    def step(self, position_rad=None) -> HandState:
        """One control cycle: send the command (a new one, or the last) to the driven motors, read their
        state and health, then bring other motors back as far as the cycle's time budget allows."""
        started_s = time.monotonic()
        deadline_s = started_s + self.config.cycle_budget_periods * self.config.period_s
        if position_rad is not None:
            self._command_ticks = self.joint_to_ticks(self.clamp(self._check_command(position_rad)))
        self._send_command()
        answering = self.supervisor.answering()
        if answering:
            read = self.bus.sync_read_block(STATE_REGISTERS, answering, retry_deadline=deadline_s)
        else:
            read = SyncRead({r: {} for r in STATE_REGISTERS}, {})
        now = time.monotonic()
        self.supervisor.note_reads(read, now)
        if read.answered:
            self.supervisor.note_health(self.bus.sync_read_block(HEALTH_REGISTERS, read.answered).values)
        self.supervisor.spend(started_s, deadline_s)
        return self._update_state(read, now)

    def read_state(self) -> HandState:
        """A control cycle without a new command."""
        return self.step()

    def write_positions(self, position_rad) -> np.ndarray:
        """Command joint angles (J,) in rad, FLASH convention, now; returns what was sent after clamping.
        Later cycles (`step`) keep sending it."""
        q = self.clamp(self._check_command(position_rad))
        self._command_ticks = self.joint_to_ticks(q)
        self._send_command()
        return q

    def write_allegro_positions(self, allegro_rad) -> np.ndarray:
        """Command Allegro-convention angles; see `allegro_to_leap`. Returns what was sent."""
        return self.write_positions(allegro_to_leap(self._check_command(allegro_rad)))

    def request_reboot(self, joints: list[str] | None = None) -> Future:
        """Reboot motors by joint name (all when None): clears latched hardware errors; each motor is then
        reconfigured and verified before torque goes back on. Done by the cycles (`step`); the future
        gives a `RebootResult`."""
        return self.supervisor.request_reboot(joints)

    def _send_command(self) -> None:
        driven = self.supervisor.driven()
        if self._command_ticks is not None and driven:
            index = {j: i for i, j in enumerate(self.joint_names)}
            self.bus.sync_write("Goal_Position", {j: int(self._command_ticks[index[j]]) for j in driven})

    def _update_state(self, read: SyncRead, now: float) -> HandState:
        values = read.values
        responding = np.array([j in values["Present_Position"] for j in self.joint_names])
        answered = [j for j in self.joint_names if j in values["Present_Position"]]
        # Motors that did not answer keep their previous values (flagged in `responding`).
        position, velocity, current = (self._state.position_rad.copy(), self._state.velocity_rad_s.copy(),
                                       self._state.current_a.copy())
        position[responding] = self.ticks_to_joint([values["Present_Position"][j] for j in answered])
        velocity[responding] = np.array([values["Present_Velocity"][j] for j in answered]) * VELOCITY_RAD_S_PER_UNIT
        current[responding] = np.array([values["Present_Current"][j] for j in answered]) * CURRENT_MA_PER_UNIT / 1e3
        self._last_read_s[responding] = now
        self._state = HandState(position, velocity, current, responding, self._state.known | responding, time.time())
        return self._state

    def status(self) -> HandStatus:
        s = self.bus.status
        health = [self.supervisor.health[j] for j in self.joint_names]
        stale_s = STALE_AFTER_PERIODS * self.config.period_s
        faults = self.supervisor.faults()
        note = getattr(self.bus, "fast_sync_read_note", None)
        if note:
            faults["bus"] = note
        return HandStatus(
            joint_names=self.joint_names,
            motor_ids=self.config.motor_ids,
            motor_states=tuple(h.state.value for h in health),
            torque_enabled=tuple(h.torque_on for h in health),
            responding=tuple(bool(r) for r in self._state.responding),
            stale=tuple(bool(t) for t in time.monotonic() - self._last_read_s > stale_s),
            hardware_errors={j: decode_hardware_error(h.error_bits) for j, h in zip(self.joint_names, health)
                             if h.error_bits},
            hardware_error_bits={j: h.error_bits for j, h in zip(self.joint_names, health) if h.error_bits},
            failures=dict(s.failures),
            retries=s.retries,
            reads=s.reads,
            writes=s.writes,
            fast_sync_read=bool(getattr(self.bus, "fast_sync_read", True)),
            faults=faults,
        )
