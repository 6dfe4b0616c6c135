"""A bus of named motors: the protocol-independent part of a motor driver.

`MotorsBus` owns what every serial servo bus needs: motors addressed by name, registers addressed by
name through a control table, signed/unsigned encoding, bounded retries, failure counting and the set
of motors that stopped answering. A protocol implementation (`DynamixelMotorsBus`, `FakeMotorsBus`)
only moves bytes: it implements the `_transfer_*` hooks, each returning a `Reply` per motor instead of
raising, so one bad packet never takes down a control loop.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from flash_core.motors.dynamixel_tables import SIGNED_REGISTERS, control_table, decode_hardware_error


@dataclass(frozen=True)
class Motor:
    id: int
    model: str


class Failure(str, Enum):
    """Why a motor's reply was not usable."""

    TIMEOUT = "timeout"  # no status packet in time
    CRC = "crc"  # status packet corrupted (CRC mismatch or garbled framing)
    LENGTH = "length"  # status packet with the wrong amount of data
    IO = "io"  # the port itself failed (unplugged, closed)


@dataclass(frozen=True)
class Reply:
    """One motor's answer to one transaction: data (reads), the status ERROR byte, or a failure."""

    data: bytes = b""
    error: int = 0
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class BusStatus:
    """Counters and health of a bus, cumulative since connect()."""

    transactions: int = 0  # packets exchanged, retries and probes included
    reads: int = 0  # read calls (single or sync)
    writes: int = 0  # write calls (single or sync)
    failures: dict[str, int] = field(default_factory=lambda: {f.value: 0 for f in Failure})
    retries: int = 0
    non_responding: set[str] = field(default_factory=set)
    hardware_errors: dict[str, list[str]] = field(default_factory=dict)  # motor -> latched fault names
    hardware_error_bits: dict[str, int] = field(default_factory=dict)  # motor -> Hardware_Error_Status value
    instruction_errors: dict[str, int] = field(default_factory=dict)  # motor -> last non-alert error code


class MotorNotRespondingError(RuntimeError):
    """A single-motor read or write failed after every retry."""


@dataclass
class BusConfig:
    max_retries: int = 2  # extra attempts after a failed transaction, per call
    probe_interval_s: float = 1.0  # how often a non-responding motor is pinged to see if it is back
    alert_bit: int = 0x80  # status ERROR bit that flags a latched hardware error


class MotorsBus(abc.ABC):
    """Named motors on one serial bus. Subclasses implement the `_transfer_*` hooks."""

    def __init__(self, port: str, motors: Mapping[str, Motor], config: BusConfig | None = None):
        if not motors:
            raise ValueError("a motor bus needs at least one motor")
        ids = [m.id for m in motors.values()]
        if len(set(ids)) != len(ids):
            raise ValueError(f"motor IDs must be unique, got {ids}")
        models = {m.model for m in motors.values()}
        if len(models) != 1:
            raise ValueError(f"one control table per bus: all motors must share a model, got {sorted(models)}")
        self.port = port
        self.motors = dict(motors)
        self.config = config or BusConfig()
        self.table = control_table(models.pop())
        self.status = BusStatus()
        self._last_probe: dict[str, float] = {}

    # --- hooks for a protocol implementation ---
    @abc.abstractmethod
    def _transfer_connect(self) -> None: ...

    @abc.abstractmethod
    def _transfer_disconnect(self) -> None: ...

    @abc.abstractmethod
    def _transfer_ping(self, motor_id: int) -> Reply: ...

    @abc.abstractmethod
    def _transfer_read(self, motor_id: int, address: int, length: int) -> Reply: ...

    @abc.abstractmethod
    def _transfer_write(self, motor_id: int, address: int, data: bytes) -> Reply: ...

    @abc.abstractmethod
    def _transfer_sync_read(self, motor_ids: Sequence[int], address: int, length: int) -> dict[int, Reply]: ...

    @abc.abstractmethod
    def _transfer_sync_write(self, address: int, data: Mapping[int, bytes]) -> Reply:
        """Broadcast; the Reply only says whether the packet went out (motors do not answer)."""

    def _recover(self) -> None:  # noqa: B027 - optional hook: buses without link state need nothing here
        """Bring the link back to a clean state after a failed transaction (e.g. drop stale bytes)."""

    # --- lifecycle ---
    @property
    @abc.abstractmethod
    def is_connected(self) -> bool: ...

    def connect(self) -> None:
        self._transfer_connect()
        self.status = BusStatus()

    def disconnect(self) -> None:
        if self.is_connected:
            self._transfer_disconnect()

    def __enter__(self) -> MotorsBus:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()

    # --- encoding ---
    def register(self, name: str) -> tuple[int, int]:
        try:
            return self.table[name]
        except KeyError:
            raise KeyError(f"unknown register '{name}'") from None

    def _motor(self, name: str) -> Motor:
        try:
            return self.motors[name]
        except KeyError:
            raise KeyError(f"unknown motor '{name}'; known: {list(self.motors)}") from None

    @staticmethod
    def encode(register: str, value: int, size: int) -> bytes:
        return int(value).to_bytes(size, "little", signed=register in SIGNED_REGISTERS)

    @staticmethod
    def decode(register: str, data: bytes) -> int:
        return int.from_bytes(data, "little", signed=register in SIGNED_REGISTERS)

    # --- single motor ---
    def ping(self, motor: str) -> bool:
        reply = self._with_retries(lambda: self._transfer_ping(self._motor(motor).id))
        self._note_reply(motor, reply)
        return reply.ok

    def read(self, register: str, motor: str) -> int:
        address, size = self.register(register)
        motor_id = self._motor(motor).id
        self.status.reads += 1
        reply = self._with_retries(lambda: self._checked_length(self._transfer_read(motor_id, address, size), size))
        self._note_reply(motor, reply)
        if not reply.ok:
            raise MotorNotRespondingError(f"motor '{motor}' (id {motor_id}) did not answer a read of {register}: "
                                          f"{reply.failure.value}")
        return self.decode(register, reply.data)

    def write(self, register: str, motor: str, value: int) -> None:
        address, size = self.register(register)
        motor_id = self._motor(motor).id
        self.status.writes += 1
        reply = self._with_retries(lambda: self._transfer_write(motor_id, address, self.encode(register, value, size)))
        self._note_reply(motor, reply)
        if not reply.ok:
            raise MotorNotRespondingError(f"motor '{motor}' (id {motor_id}) did not acknowledge {register}="
                                          f"{value}: {reply.failure.value}")
        if reply.error & ~self.config.alert_bit:
            raise RuntimeError(f"motor '{motor}' refused {register}={value} (status error "
                               f"{reply.error & ~self.config.alert_bit}; EEPROM registers need torque off)")

    # --- group operations ---
    def sync_read(self, register: str, motors: Iterable[str] | None = None) -> dict[str, int]:
        """One register from many motors; motors that do not answer are left out (see `status`)."""
        return self.sync_read_block([register], motors)[register]

    def sync_read_block(
        self, registers: Sequence[str], motors: Iterable[str] | None = None
    ) -> dict[str, dict[str, int]]:
        """Adjacent registers from many motors in one transaction: {register: {motor: value}}.

        Motors that fail are retried one by one (up to `max_retries`); those that still fail are marked
        non-responding and skipped (pinged again every `probe_interval_s`, one per call) until they answer.
        """
        spans = sorted((self.register(r) + (r,) for r in registers))
        for (a0, s0, r0), (a1, _, r1) in zip(spans, spans[1:]):
            if a0 + s0 != a1:
                raise ValueError(f"registers {r0} and {r1} are not adjacent; read them separately")
        address = spans[0][0]
        length = spans[-1][0] + spans[-1][1] - address
        names = self._live_motors(motors)
        self.status.reads += 1
        values: dict[str, dict[str, int]] = {r: {} for r in registers}
        if not names:
            return values
        ids = {self.motors[n].id: n for n in names}
        self.status.transactions += 1
        replies = {
            ids[i]: self._checked_length(r, length)
            for i, r in self._transfer_sync_read(list(ids), address, length).items()
        }
        missing = Reply(failure=Failure.TIMEOUT)
        replies = {n: replies.get(n, missing) for n in names}
        # A packet-level failure (e.g. a corrupt Fast Sync Read packet) is one Reply shared by all
        # motors: count it once.
        self._count_failures({id(r): r for r in replies.values()}.values())
        for _ in range(self.config.max_retries):
            failed = [n for n in names if not replies[n].ok]
            if not failed:
                break
            self.status.retries += 1
            self._recover()
            for n in failed:
                self.status.transactions += 1
                replies[n] = self._checked_length(self._transfer_read(self.motors[n].id, address, length), length)
                self._count_failures([replies[n]])
        alerts = []
        for n in names:
            reply = replies[n]
            self._note_reply(n, reply)
            if not reply.ok:
                continue
            if reply.error & self.config.alert_bit:
                alerts.append(n)
            for a, s, r in spans:
                values[r][n] = self.decode(r, reply.data[a - address : a - address + s])
        self._update_hardware_errors(alerts, [n for n in names if n not in alerts and replies[n].ok])
        return values

    def sync_write(self, register: str, values: Mapping[str, int]) -> None:
        """One register on many motors in one broadcast packet (the protocol sends no reply)."""
        address, size = self.register(register)
        # Broadcast to every requested motor, silent ones included: it costs nothing, and torque-off
        # must reach a motor that is answering again.
        data = {self._motor(n).id: self.encode(register, v, size) for n, v in values.items()}
        if data:
            self.status.transactions += 1
            self.status.writes += 1
            self._count_failures([self._transfer_sync_write(address, data)])

    def enable_torque(self, motors: Iterable[str] | None = None) -> None:
        self.sync_write("Torque_Enable", {n: 1 for n in (motors or self.motors)})

    def disable_torque(self, motors: Iterable[str] | None = None) -> None:
        self.sync_write("Torque_Enable", {n: 0 for n in (motors or self.motors)})

    # --- bookkeeping ---
    def _live_motors(self, motors: Iterable[str] | None) -> list[str]:
        """Requested motors minus non-responding ones, after pinging the one whose probe is most overdue."""
        names = list(self.motors) if motors is None else list(motors)
        for n in names:
            self._motor(n)  # unknown names fail here, with the list of known ones
        now = time.monotonic()
        due = [n for n in names if n in self.status.non_responding
               and now - self._last_probe.get(n, 0.0) >= self.config.probe_interval_s]
        if due:
            # One probe per call: a silent motor costs one timeout, so probing a whole unplugged hand at
            # once would stall the caller's loop for all of them.
            n = min(due, key=lambda m: self._last_probe.get(m, 0.0))
            self._last_probe[n] = now
            self.status.transactions += 1
            self._note_reply(n, self._transfer_ping(self.motors[n].id), count=True)
        return [n for n in names if n not in self.status.non_responding]

    def _with_retries(self, transfer: Callable[[], Reply]) -> Reply:
        reply = Reply(failure=Failure.TIMEOUT)
        for attempt in range(1 + self.config.max_retries):
            if attempt:
                self.status.retries += 1
                self._recover()
            self.status.transactions += 1
            reply = transfer()
            if reply.ok:
                return reply
            self._count_failures([reply])
        return reply

    def _count_failures(self, replies: Iterable[Reply]) -> None:
        for reply in replies:
            if reply.failure is not None:
                self.status.failures[reply.failure.value] += 1

    def _checked_length(self, reply: Reply, length: int) -> Reply:
        if reply.ok and len(reply.data) != length:
            return Reply(data=reply.data, error=reply.error, failure=Failure.LENGTH)
        return reply

    def _note_reply(self, motor: str, reply: Reply, count: bool = False) -> None:
        if count:
            self._count_failures([reply])
        if reply.ok:
            self.status.non_responding.discard(motor)
            code = reply.error & ~self.config.alert_bit
            if code:
                self.status.instruction_errors[motor] = code
        else:
            if motor not in self.status.non_responding:
                self._last_probe[motor] = time.monotonic()
            self.status.non_responding.add(motor)

    def _update_hardware_errors(self, alerted: Sequence[str], clear: Sequence[str]) -> None:
        for n in clear:
            self.status.hardware_errors.pop(n, None)
            self.status.hardware_error_bits.pop(n, None)
        for n in alerted:
            if n in self.status.hardware_errors:
                continue  # latched until reboot: decode once, not every cycle
            address, size = self.register("Hardware_Error_Status")
            self.status.transactions += 1
            reply = self._checked_length(self._transfer_read(self.motors[n].id, address, size), size)
            if reply.ok:
                self.status.hardware_error_bits[n] = reply.data[0]
                self.status.hardware_errors[n] = decode_hardware_error(reply.data[0]) or ["unknown"]
