"""A bus of named motors: the protocol-independent part of a motor driver.

`MotorsBus` owns what every serial servo bus needs: motors addressed by name, registers addressed by
name through a control table, signed/unsigned encoding, bounded retries and failure counting. A
protocol implementation (`DynamixelMotorsBus`, `FakeMotorsBus`) only moves bytes: it implements the
`_transfer_*` hooks, each returning a `Reply` per motor instead of raising, so one bad packet never
takes down a control loop.

Single-motor calls (`ping`, `read_block`, `write_block`, `reboot`) retry and then raise
`MotorNotRespondingError` (no usable reply) or `MotorRefusedError` (the motor answered with an error
code). Group reads never raise: they return what answered and why the rest did not. There is no
broadcast torque-on: torque goes on one verified motor at a time, by whoever verified it.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from flash_core.motors.dynamixel.protocol import ERROR_ACCESS, ERROR_NAMES
from flash_core.motors.dynamixel.tables import SIGNED_REGISTERS, control_table


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
    """Counters of a bus, cumulative since connect()."""

    transactions: int = 0  # packets exchanged, retries included
    reads: int = 0  # read calls (single or sync)
    writes: int = 0  # write calls (single or sync)
    failures: dict[str, int] = field(default_factory=lambda: {f.value: 0 for f in Failure})
    retries: int = 0


@dataclass(frozen=True)
class SyncRead:
    """Result of a group read: {register: {motor: value}} for the motors that answered, and the reason
    for each that did not."""

    values: dict[str, dict[str, int]]
    failed: dict[str, Failure]

    @property
    def answered(self) -> list[str]:
        first = next(iter(self.values.values()), {})
        return list(first)


class MotorNotRespondingError(RuntimeError):
    """A single-motor transaction got no usable reply after every retry."""


class MotorRefusedError(RuntimeError):
    """The motor answered, with an error code (e.g. access error: an EEPROM write with torque on)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass
class BusConfig:
    max_retries: int = 2  # extra attempts of a failed single-motor transaction
    alert_bit: int = 0x80  # status ERROR bit that flags a latched hardware error

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")


@dataclass(frozen=True)
class _Span:
    """Registers read or written in one transaction: the covering address range and where each sits."""

    address: int
    length: int
    fields: tuple[tuple[str, int, int], ...]  # (register, offset in the span, size)


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

    # --- hooks for a protocol implementation ---
    @abc.abstractmethod
    def _transfer_connect(self) -> None: ...

    @abc.abstractmethod
    def _transfer_disconnect(self) -> None: ...

    @abc.abstractmethod
    def _transfer_ping(self, motor_id: int) -> Reply:
        """Reply.data: the model number, 2 bytes little-endian."""

    @abc.abstractmethod
    def _transfer_read(self, motor_id: int, address: int, length: int) -> Reply: ...

    @abc.abstractmethod
    def _transfer_write(self, motor_id: int, address: int, data: bytes) -> Reply: ...

    @abc.abstractmethod
    def _transfer_reboot(self, motor_id: int) -> Reply: ...

    @abc.abstractmethod
    def _transfer_sync_read(self, motor_ids: Sequence[int], address: int, length: int) -> dict[int, Reply]: ...

    @abc.abstractmethod
    def _transfer_sync_write(self, address: int, data: Mapping[int, bytes]) -> Reply:
        """Broadcast; the Reply only says whether the packet went out (motors do not answer)."""

    def _recover(self) -> None:  # noqa: B027 - optional hook: buses without link state need nothing here
        """Bring the link back to a clean state after a failed transaction (e.g. drop stale bytes)."""

    @property
    def transaction_timeout_s(self) -> float:
        """The longest one transaction can take before it is given up (what a silent motor costs)."""
        return 0.0

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

    # --- names ---
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

    def describe(self, motor: str) -> str:
        return f"motor '{motor}' (id {self._motor(motor).id})"

    def _span(self, registers: Iterable[str]) -> _Span:
        placed = sorted((self.register(r) + (r,) for r in registers))
        if not placed:
            raise ValueError("no registers given")
        address = placed[0][0]
        length = max(a + s for a, s, _ in placed) - address
        return _Span(address, length, tuple((r, a - address, s) for a, s, r in placed))

    # --- encoding ---
    @staticmethod
    def encode(register: str, value: int, size: int) -> bytes:
        return int(value).to_bytes(size, "little", signed=register in SIGNED_REGISTERS)

    @staticmethod
    def decode(register: str, data: bytes) -> int:
        return int.from_bytes(data, "little", signed=register in SIGNED_REGISTERS)

    def _decode_span(self, span: _Span, data: bytes) -> dict[str, int]:
        return {r: self.decode(r, data[o : o + s]) for r, o, s in span.fields}

    # --- single motor ---
    def ping(self, motor: str, retries: int | None = None) -> int:
        """The model number the motor reports."""
        motor_id = self._motor(motor).id
        reply = self._checked(motor, "ping", self._with_retries(lambda: self._transfer_ping(motor_id), retries))
        return int.from_bytes(reply.data[:2], "little")

    def read(self, register: str, motor: str, retries: int | None = None) -> int:
        return self.read_block([register], motor, retries)[register]

    def read_block(self, registers: Sequence[str], motor: str, retries: int | None = None) -> dict[str, int]:
        """Several registers of one motor in one transaction (the covering address range is read)."""
        span = self._span(registers)
        motor_id = self._motor(motor).id
        self.status.reads += 1
        reply = self._with_retries(
            lambda: self._checked_length(self._transfer_read(motor_id, span.address, span.length), span.length),
            retries,
        )
        return self._decode_span(span, self._checked(motor, f"read of {', '.join(registers)}", reply).data)

    def write(self, register: str, motor: str, value: int, retries: int | None = None) -> None:
        self.write_block({register: value}, motor, retries)

    def write_block(self, values: Mapping[str, int], motor: str, retries: int | None = None) -> None:
        """Adjacent registers of one motor in one acknowledged transaction."""
        span = self._span(values)
        if sum(s for _, _, s in span.fields) != span.length:
            raise ValueError(f"registers {sorted(values)} leave gaps; write them separately")
        data = bytearray(span.length)
        for r, o, s in span.fields:
            data[o : o + s] = self.encode(r, values[r], s)
        motor_id = self._motor(motor).id
        self.status.writes += 1
        reply = self._with_retries(lambda: self._transfer_write(motor_id, span.address, bytes(data)), retries)
        what = ", ".join(f"{r}={v}" for r, v in values.items())
        self._checked(motor, f"write of {what}", reply)

    def reboot(self, motor: str, retries: int | None = None) -> None:
        """REBOOT: the motor answers, restarts (torque off, RAM defaults, hardware errors cleared)."""
        motor_id = self._motor(motor).id
        self._checked(motor, "reboot", self._with_retries(lambda: self._transfer_reboot(motor_id), retries))

    def _checked(self, motor: str, what: str, reply: Reply) -> Reply:
        if not reply.ok:
            raise MotorNotRespondingError(f"{self.describe(motor)} did not answer a {what}: {reply.failure.value}")
        code = reply.error & ~self.config.alert_bit
        if code:
            name = ERROR_NAMES.get(code, f"error {code}")
            hint = " (EEPROM registers take writes only with torque off)" if code == ERROR_ACCESS else ""
            raise MotorRefusedError(f"{self.describe(motor)} refused a {what}: {name}{hint}", code)
        return reply

    # --- group operations ---
    def sync_read(self, register: str, motors: Iterable[str] | None = None) -> dict[str, int]:
        """One register from many motors; motors that do not answer are left out."""
        return self.sync_read_block([register], motors).values[register]

    def sync_read_block(
        self, registers: Sequence[str], motors: Iterable[str] | None = None, retry_deadline: float | None = None
    ) -> SyncRead:
        """Registers from many motors in one transaction (the covering address range is read).

        Motors that failed get one more group read of just them if `transaction_timeout_s` still fits
        before `retry_deadline` (time.monotonic()); None: no retry.
        """
        span = self._span(registers)
        names = list(self.motors) if motors is None else list(motors)
        for n in names:
            self._motor(n)  # unknown names fail here, with the list of known ones
        replies: dict[str, Reply] = {}
        pending = names
        for attempt in range(2):
            if not pending:
                break
            if attempt:
                if retry_deadline is None or time.monotonic() + self.transaction_timeout_s > retry_deadline:
                    break
                self.status.retries += 1
            self.status.reads += 1
            self.status.transactions += 1
            ids = {self.motors[n].id: n for n in pending}
            raw = self._transfer_sync_read(list(ids), span.address, span.length)
            missing = Reply(failure=Failure.TIMEOUT)
            got = {n: self._checked_length(raw.get(i, missing), span.length) for i, n in ids.items()}
            # A packet-level failure (a corrupt Fast Sync Read packet) is one Reply shared by all motors:
            # count it once.
            self._count_failures({id(r): r for r in got.values()}.values())
            replies.update(got)
            pending = [n for n in pending if not replies[n].ok]
            if pending:
                self._recover()
        values: dict[str, dict[str, int]] = {r: {} for r in registers}
        for n in names:
            if replies[n].ok:
                for r, v in self._decode_span(span, replies[n].data).items():
                    if r in values:
                        values[r][n] = v
        return SyncRead(values, {n: replies[n].failure for n in names if not replies[n].ok})

    def sync_write(self, register: str, values: Mapping[str, int]) -> None:
        """One register on many motors in one broadcast packet (the protocol sends no reply)."""
        address, size = self.register(register)
        data = {self._motor(n).id: self.encode(register, v, size) for n, v in values.items()}
        if data:
            self.status.transactions += 1
            self.status.writes += 1
            self._count_failures([self._transfer_sync_write(address, data)])

    def disable_torque(self, motors: Iterable[str] | None = None) -> None:
        """Broadcast torque off (to silent motors too: it costs nothing and must reach one that is back)."""
        self.sync_write("Torque_Enable", {n: 0 for n in (self.motors if motors is None else motors)})

    # --- bookkeeping ---
    def _with_retries(self, transfer: Callable[[], Reply], retries: int | None) -> Reply:
        attempts = 1 + (self.config.max_retries if retries is None else retries)
        reply = Reply(failure=Failure.TIMEOUT)
        for attempt in range(attempts):
            if attempt:
                self.status.retries += 1
            self.status.transactions += 1
            reply = transfer()
            if reply.ok:
                return reply
            self._count_failures([reply])
            self._recover()
        return reply

    def _count_failures(self, replies: Iterable[Reply]) -> None:
        for reply in replies:
            if reply.failure is not None:
                self.status.failures[reply.failure.value] += 1

    @staticmethod
    def _checked_length(reply: Reply, length: int) -> Reply:
        if reply.ok and len(reply.data) != length:
            return Reply(data=reply.data, error=reply.error, failure=Failure.LENGTH)
        return reply
