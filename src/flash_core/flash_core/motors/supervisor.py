"""Keeping every motor on a bus configured, verified and torqued on, inside a control cycle's time budget.

A motor is driven only after its registers were written with torque off, read back and found equal to
its setup, and its torque was turned on by a write addressed to it alone and read back. Everything that
can take a motor out of that state is watched: silence (consecutive failed reads), torque found off
(a power cycle or brown-out restores RAM defaults), a latched hardware error. A motor that answers again
goes through the same configure-and-verify sequence before its torque goes back on.

Work beyond the cycle's own reads (configuration steps, pings of silent motors, reboots) is done in
steps of one transaction, each only if its worst case (`MotorsBus.transaction_timeout_s` per
transaction) still fits before the cycle's deadline; what does not fit waits for the next cycle. Silent
motors are left out of the group reads and pinged every `probe_interval_s`, so one silent motor costs
one timeout per second, not one per cycle.

States: driven; absent (not answering, pinged); configuring (answering, being configured, torque off);
refused (configuration refused or read back wrong, retried every probe_interval_s); wrong_model (never
configured); fault (hardware error latched, torque off until reboot); rebooting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum

from flash_core.motors.dynamixel.tables import decode_hardware_error, describe_model_number
from flash_core.motors.motors_bus import MotorNotRespondingError, MotorRefusedError, MotorsBus, SyncRead

HEALTH_REGISTERS = ("Torque_Enable", "Hardware_Error_Status")  # addresses 64 and 70: one 7-byte read


class MotorState(str, Enum):
    DRIVEN = "driven"
    ABSENT = "absent"
    CONFIGURING = "configuring"
    REFUSED = "refused"
    WRONG_MODEL = "wrong_model"
    FAULT = "fault"
    REBOOTING = "rebooting"


# States whose motors answer, so the cycle's group reads include them.
_ANSWERING = (MotorState.DRIVEN, MotorState.CONFIGURING, MotorState.REFUSED, MotorState.FAULT)


class HandStartupError(RuntimeError):
    """Motors missing, of another model or refusing their configuration at start-up; nothing is torqued on."""


@dataclass
class SupervisorConfig:
    probe_interval_s: float = 1.0  # how often a motor that is not driven is pinged or its configuration retried
    absent_after_misses: int = 3  # consecutive failed cycle reads before a motor counts as absent
    boot_s: float = 0.1  # after a REBOOT: wait this long before pinging the motor
    reboot_timeout_s: float = 3.0  # a rebooted motor not driven again by then is reported as failed
    auto_reboot_limit: int = 0  # automatic reboots per motor for a latched hardware error (0: never)
    auto_reboot_delay_s: float = 1.0  # how long a hardware error stands before the automatic reboot
    # Extra attempts of each start-up transaction: start-up has no cycle to keep, and a motor it misses
    # stops the start.
    startup_retries: int = 5

    def __post_init__(self) -> None:
        if self.probe_interval_s <= 0 or self.boot_s < 0 or self.reboot_timeout_s <= 0:
            raise ValueError("probe_interval_s and reboot_timeout_s must be > 0, boot_s >= 0")
        if self.absent_after_misses < 1 or min(self.auto_reboot_limit, self.auto_reboot_delay_s,
                                               self.startup_retries) < 0:
            raise ValueError("absent_after_misses must be >= 1; auto_reboot_limit, auto_reboot_delay_s and "
                             "startup_retries >= 0")


@dataclass(frozen=True)
class RebootResult:
    driven: tuple[str, ...]  # motors driven again after their reboot
    failed: dict[str, str]  # motor -> why it is not

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _Step:
    """One transaction of a sequence (so that any step fits a cycle with room for one transaction)."""

    name: str
    run: Callable[[], bool]  # True: the sequence is complete (the motor is driven)


@dataclass
class MotorHealth:
    """What the supervisor knows about one motor."""

    state: MotorState
    reason: str = ""  # why it is in that state, for messages
    since_s: float = 0.0
    torque_on: bool = False  # as last read
    error_bits: int = 0  # Hardware_Error_Status as last read
    missed_reads: int = 0  # consecutive cycle reads or configuration steps it did not answer
    last_read_s: float | None = None  # when it last answered a cycle read (time.monotonic())
    next_action_s: float = 0.0  # when to ping it or retry its configuration
    steps: deque[_Step] = field(default_factory=deque)
    reboots: int = 0
    auto_reboots: int = 0


@dataclass
class _RebootRequest:
    motors: tuple[str, ...]
    future: Future
    deadline_s: float
    sent: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)


class MotorSupervisor:
    """The states of the motors of one bus, and the work that brings them to driven.

    setup: motor -> {register: value} it must hold before torque goes on (EEPROM and RAM registers alike).
    """

    def __init__(
        self,
        bus: MotorsBus,
        setup: Mapping[str, Mapping[str, int]],
        model_number: int,
        config: SupervisorConfig | None = None,
    ):
        unknown = set(setup) - set(bus.motors)
        if unknown:
            raise ValueError(f"setup for motors not on the bus: {sorted(unknown)}")
        self.bus = bus
        self.setup = {m: dict(v) for m, v in setup.items()}
        self.model_number = model_number
        self.config = config or SupervisorConfig()
        self.health: dict[str, MotorHealth] = {m: MotorHealth(MotorState.ABSENT, "not started") for m in bus.motors}
        self._lock = threading.Lock()  # guards the reboot queue and requests, shared with other threads
        self._reboot_queue: deque[tuple[str, _RebootRequest | None]] = deque()
        self._requests: list[_RebootRequest] = []

    # --- names and views ---
    def describe(self, motor: str) -> str:
        return f"motor {self.bus.motors[motor].id} (joint '{motor}')"

    def motors_in(self, *states: MotorState) -> list[str]:
        return [m for m, h in self.health.items() if h.state in states]

    def driven(self) -> list[str]:
        return self.motors_in(MotorState.DRIVEN)

    def answering(self) -> list[str]:
        """Motors the cycle's group reads include (silent, rebooting and wrong-model ones are only pinged)."""
        return self.motors_in(*_ANSWERING)

    def faults(self) -> dict[str, str]:
        """motor -> what is wrong with it, for every motor that is not driven."""
        return {
            m: f"{self.describe(m)}: {h.state.value}" + (f" ({h.reason})" if h.reason else "")
            for m, h in self.health.items()
            if h.state is not MotorState.DRIVEN
        }

    def _enter(self, motor: str, state: MotorState, reason: str = "", delay_s: float = 0.0) -> None:
        now = time.monotonic()
        h = self.health[motor]
        h.state, h.reason, h.since_s = state, reason, now
        h.next_action_s = now + delay_s
        h.steps.clear()
        if state is MotorState.CONFIGURING:
            h.steps.extend(self._configure_steps(motor, shortcut=True) + self._torque_on_steps(motor))

    # --- start-up ---
    def start(self, allow_missing: Iterable[str] = ()) -> None:
        """Verify every motor (ping: answers, model number), configure and verify the present ones, then
        torque them on one by one. Raises HandStartupError, with torque off everywhere, when a motor not
        in `allow_missing` is missing or refuses; a motor of another model is refused in any case."""
        allow_missing = set(allow_missing)
        problems: dict[str, str] = {}

        def refuse_if_needed() -> None:
            missing = [m for m in self.motors_in(MotorState.ABSENT) if m not in allow_missing]
            refused = {m: r for m, r in problems.items()
                       if m not in allow_missing or self.health[m].state is MotorState.WRONG_MODEL}
            if missing or refused:
                self.bus.disable_torque()
                raise HandStartupError(self._startup_message(missing, refused))

        for motor in self.bus.motors:
            try:
                number = self.bus.ping(motor, retries=self.config.startup_retries)
            except MotorNotRespondingError:
                self._enter(motor, MotorState.ABSENT, "did not answer at start-up", self.config.probe_interval_s)
                continue
            if number != self.model_number:
                problems[motor] = self._wrong_model(motor, number)
            else:
                self._enter(motor, MotorState.CONFIGURING, "starting")
                self.health[motor].steps.clear()  # run below, to the end, phase by phase
        refuse_if_needed()
        retries = self.config.startup_retries
        for make_steps in (lambda m: self._configure_steps(m, shortcut=False, retries=retries),
                           lambda m: self._torque_on_steps(m, retries=retries)):
            for motor in self.motors_in(MotorState.CONFIGURING):
                reason = self._run_now(motor, make_steps(motor))
                if reason:
                    problems[motor] = reason
            refuse_if_needed()

    def _startup_message(self, missing: Sequence[str], refused: Mapping[str, str]) -> str:
        lines = []
        if missing:
            ids = ", ".join(str(self.bus.motors[m].id) for m in missing)
            lines.append(f"motor IDs {ids} (joints {', '.join(repr(m) for m in missing)}) do not answer on "
                         f"{self.bus.port}: check power and cabling, or list the IDs in allow_missing to run "
                         "without them")
        lines += [f"{self.describe(m)} {r}" for m, r in refused.items()]
        return "hand not started, torque left off: " + "; ".join(lines)

    def _run_now(self, motor: str, steps: Sequence[_Step]) -> str | None:
        """Run a step sequence to its end (start-up); the reason if the motor did not come through."""
        for step in steps:
            reason = self._run_step(motor, step)
            if reason:
                return reason
            h = self.health[motor]
            if h.state is MotorState.DRIVEN:
                return None
            if h.state is not MotorState.CONFIGURING:
                return f"{h.state.value}: {h.reason}"
        return None

    def _wrong_model(self, motor: str, number: int) -> str:
        reason = (f"reports model {describe_model_number(number)}, expected "
                  f"{describe_model_number(self.model_number)}; never configured")
        self._enter(motor, MotorState.WRONG_MODEL, reason, self.config.probe_interval_s)
        return reason

    # --- the configure-and-verify sequence ---
    def _configure_steps(self, motor: str, shortcut: bool, retries: int | None = 0) -> list[_Step]:
        """Torque off, write the setup, read it back. With `shortcut`, a motor found already holding its
        setup with torque on and no error (it only missed some reads) is driven again as it is. `retries`:
        of each transaction (0 in a cycle, where a failed step is tried again in the next one)."""
        setup = self.setup.get(motor, {})
        registers = sorted(setup, key=lambda r: self.bus.register(r)[0])

        def check() -> bool:
            values = self.bus.read_block([*registers, *HEALTH_REGISTERS], motor, retries=retries)
            self._note_health_values(motor, values["Torque_Enable"], values["Hardware_Error_Status"])
            if self.health[motor].state is MotorState.FAULT:
                return False
            if shortcut and values["Torque_Enable"] and all(values[r] == setup[r] for r in registers):
                self._enter(motor, MotorState.DRIVEN)
                return True
            return False

        def torque_off() -> bool:
            self.bus.write("Torque_Enable", motor, 0, retries=retries)
            return False

        def write(run: dict[str, int]) -> Callable[[], bool]:
            def step() -> bool:
                self.bus.write_block(run, motor, retries=retries)
                return False

            return step

        def verify() -> bool:
            values = self.bus.read_block(registers, motor, retries=retries)
            wrong = [f"{r}={values[r]} (wrote {setup[r]})" for r in registers if values[r] != setup[r]]
            if wrong:
                raise _VerifyError(f"reads back {', '.join(wrong)}")
            return False

        steps = [_Step("check", check), _Step("torque off", torque_off)]
        steps += [_Step(f"write {', '.join(run)}", write(run)) for run in self._contiguous_runs(setup)]
        return steps + [_Step("verify", verify)]

    def _torque_on_steps(self, motor: str, retries: int | None = 0) -> list[_Step]:
        """Hold the present position, torque on (addressed to this motor alone), read torque back."""

        present: dict[str, int] = {}

        def read_present() -> bool:
            present["ticks"] = self.bus.read("Present_Position", motor, retries=retries)
            return False

        def hold() -> bool:
            self.bus.write("Goal_Position", motor, present["ticks"], retries=retries)
            return False

        def torque_on() -> bool:
            self.bus.write("Torque_Enable", motor, 1, retries=retries)
            return False

        def confirm() -> bool:
            values = self.bus.read_block(HEALTH_REGISTERS, motor, retries=retries)
            self._note_health_values(motor, values["Torque_Enable"], values["Hardware_Error_Status"])
            if self.health[motor].state is MotorState.FAULT:
                return False
            if not values["Torque_Enable"]:
                raise _VerifyError("torque did not stay on")
            self._enter(motor, MotorState.DRIVEN)
            return True

        return [_Step("read present position", read_present), _Step("hold it", hold), _Step("torque on", torque_on),
                _Step("confirm", confirm)]

    def _contiguous_runs(self, setup: Mapping[str, int]) -> list[dict[str, int]]:
        """Setup registers grouped into address-contiguous runs: one write each (P/I/D gains: one write)."""
        runs: list[dict[str, int]] = []
        end = None
        for register in sorted(setup, key=lambda r: self.bus.register(r)[0]):
            address, size = self.bus.register(register)
            if end != address:
                runs.append({})
            runs[-1][register] = setup[register]
            end = address + size
        return runs

    def _run_step(self, motor: str, step: _Step, retry_later: bool = False) -> str | None:
        """One step; on failure the motor changes state and the reason is returned. With `retry_later`, a
        step that got no answer goes back in front of the queue, until absent_after_misses in a row."""
        h = self.health[motor]
        try:
            step.run()
            h.missed_reads = 0
            return None
        except MotorNotRespondingError as exc:
            h.missed_reads += 1
            if retry_later and h.missed_reads < self.config.absent_after_misses:
                h.steps.appendleft(step)
                return f"no answer to {step.name}; tried again next cycle"
            reason = f"stopped answering during {step.name}: {exc}"
            self._enter(motor, MotorState.ABSENT, reason, self.config.probe_interval_s)
        except (MotorRefusedError, _VerifyError) as exc:
            reason = f"{step.name} failed: {exc}"
            self._enter(motor, MotorState.REFUSED, reason, self.config.probe_interval_s)
            try:  # a half-configured motor must not keep torque: turn it off if it still listens
                self.bus.write("Torque_Enable", motor, 0, retries=0)
            except (MotorNotRespondingError, MotorRefusedError):
                pass
        return h.reason

    # --- what the cycle reports ---
    def note_reads(self, read: SyncRead, now: float) -> None:
        """The cycle's state read: who answered, who missed it."""
        for motor in read.answered:
            h = self.health[motor]
            h.missed_reads, h.last_read_s = 0, now
        for motor, failure in read.failed.items():
            h = self.health[motor]
            h.missed_reads += 1
            if h.missed_reads >= self.config.absent_after_misses and h.state is not MotorState.ABSENT:
                self._enter(motor, MotorState.ABSENT,
                            f"missed {h.missed_reads} reads in a row ({failure.value})", self.config.probe_interval_s)

    def note_health(self, values: Mapping[str, Mapping[str, int]]) -> None:
        """The cycle's health read ({"Torque_Enable": {motor: v}, "Hardware_Error_Status": {motor: v}})."""
        for motor, torque in values["Torque_Enable"].items():
            self._note_health_values(motor, torque, values["Hardware_Error_Status"][motor])

    def _note_health_values(self, motor: str, torque: int, error_bits: int) -> None:
        h = self.health[motor]
        h.torque_on, h.error_bits = bool(torque), error_bits
        if error_bits and h.state is not MotorState.FAULT:
            names = ", ".join(decode_hardware_error(error_bits))
            reason = f"hardware error {names} (Hardware_Error_Status {error_bits:#04x}); torque off until reboot"
            limit = self.config.auto_reboot_limit
            if limit and h.auto_reboots >= limit:
                reason += f"; automatic reboots used up ({limit}): call the reboot service"
            self._enter(motor, MotorState.FAULT, reason)
        elif not error_bits and h.state is MotorState.FAULT:
            self._enter(motor, MotorState.CONFIGURING, "hardware error gone (power cycle?); reconfiguring")
        elif not torque and h.state is MotorState.DRIVEN:
            self._enter(motor, MotorState.CONFIGURING, "torque found off (power cycle?); reconfiguring")

    # --- the work of a cycle ---
    def spend(self, started_s: float, deadline_s: float) -> None:
        """Reboots, configuration steps and pings, as many as fit before deadline_s (time.monotonic()).

        A motor that left `driven` during this cycle (started at started_s) is brought back from the next
        cycle on, so every fault stands in at least one cycle's status (and so reaches the log)."""
        timeout_s = self.bus.transaction_timeout_s

        def fits() -> bool:
            return time.monotonic() + timeout_s <= deadline_s

        self._queue_auto_reboots()
        while fits():
            with self._lock:
                item = self._reboot_queue.popleft() if self._reboot_queue else None
            if item is None:
                break
            self._reboot(*item)
        for motor in self.motors_in(MotorState.CONFIGURING):
            if self.health[motor].since_s >= started_s:
                continue
            steps = self.health[motor].steps
            while steps and fits():
                if self._run_step(motor, steps.popleft(), retry_later=True) is not None:
                    break
            if steps:
                break  # the next step did not fit: keep the order of the motors
        now = time.monotonic()
        for motor, h in self.health.items():
            if h.state in (MotorState.ABSENT, MotorState.REBOOTING, MotorState.WRONG_MODEL, MotorState.REFUSED) \
                    and now >= h.next_action_s and fits():
                self._probe(motor)
        self._settle_requests()

    def _probe(self, motor: str) -> None:
        h = self.health[motor]
        if h.state is MotorState.REFUSED:
            self._enter(motor, MotorState.CONFIGURING, f"retrying after: {h.reason}")
            self.health[motor].steps = deque(self._configure_steps(motor, shortcut=False) +
                                             self._torque_on_steps(motor))
            return
        try:
            number = self.bus.ping(motor, retries=0)
        except MotorNotRespondingError:
            if h.state is MotorState.REBOOTING and time.monotonic() - h.since_s > self.config.reboot_timeout_s:
                self._enter(motor, MotorState.ABSENT, "did not answer after its reboot", self.config.probe_interval_s)
            else:
                h.next_action_s = time.monotonic() + (
                    self.config.boot_s if h.state is MotorState.REBOOTING else self.config.probe_interval_s)
            return
        if number != self.model_number:
            self._wrong_model(motor, number)
            return
        self._enter(motor, MotorState.CONFIGURING, "answering again; reconfiguring")

    # --- reboots ---
    def request_reboot(self, motors: Sequence[str] | None = None) -> Future:
        """Queue REBOOTs (all motors when None); the future gives a RebootResult once every motor is driven
        again or has failed (at most reboot_timeout_s after its reboot went out)."""
        motors = tuple(self.bus.motors) if motors is None else tuple(motors)
        unknown = [m for m in motors if m not in self.health]
        if unknown:
            raise KeyError(f"unknown motors {unknown}; known: {list(self.health)}")
        future: Future = Future()
        request = _RebootRequest(motors, future, time.monotonic() + self.config.reboot_timeout_s)
        with self._lock:
            self._requests.append(request)
            self._reboot_queue.extend((m, request) for m in motors)
        return future

    def _queue_auto_reboots(self) -> None:
        limit = self.config.auto_reboot_limit
        now = time.monotonic()
        for motor in self.motors_in(MotorState.FAULT):
            h = self.health[motor]
            if h.auto_reboots >= limit or now - h.since_s < self.config.auto_reboot_delay_s:
                continue
            with self._lock:
                if any(m == motor for m, _ in self._reboot_queue):
                    continue
                h.auto_reboots += 1
                self._reboot_queue.append((motor, None))

    def _reboot(self, motor: str, request: _RebootRequest | None) -> None:
        try:
            self.bus.reboot(motor, retries=0)
        except MotorNotRespondingError as exc:
            # A lost reply is no verdict (one transaction per cycle, a busy bus or host can drop one): the
            # request goes back in the queue until its deadline.
            if request is not None and time.monotonic() < request.deadline_s:
                with self._lock:
                    self._reboot_queue.append((motor, request))
            elif request is not None:
                request.failed[motor] = f"reboot not acknowledged: {exc}"
            return
        except MotorRefusedError as exc:
            if request is not None:
                request.failed[motor] = f"reboot not acknowledged: {exc}"
            return
        h = self.health[motor]
        h.reboots += 1
        self._enter(motor, MotorState.REBOOTING, "requested" if request else "automatic, after a hardware error",
                    self.config.boot_s)
        h.torque_on, h.error_bits = False, 0
        if request is not None:
            request.sent.add(motor)
            request.deadline_s = time.monotonic() + self.config.reboot_timeout_s

    def _settle_requests(self) -> None:
        now = time.monotonic()
        with self._lock:
            open_requests = list(self._requests)
        for request in open_requests:
            for motor in request.sent - set(request.failed):
                h = self.health[motor]
                if h.state in (MotorState.WRONG_MODEL, MotorState.FAULT):  # nothing more will come of it
                    request.failed[motor] = f"{h.state.value}: {h.reason}"
            driven = [m for m in request.sent if self.health[m].state is MotorState.DRIVEN and m not in request.failed]
            settled = set(driven) | set(request.failed)
            if len(settled) < len(request.motors) and now < request.deadline_s:
                continue
            for motor in request.motors:
                if motor not in settled:
                    h = self.health[motor]
                    request.failed[motor] = (f"not driven {self.config.reboot_timeout_s:g} s after its reboot: "
                                             f"{h.state.value} ({h.reason})")
            with self._lock:
                self._requests.remove(request)
            request.future.set_result(RebootResult(tuple(sorted(driven, key=list(self.bus.motors).index)),
                                                   dict(request.failed)))


class _VerifyError(RuntimeError):
    """A register read back differs from what was written."""
