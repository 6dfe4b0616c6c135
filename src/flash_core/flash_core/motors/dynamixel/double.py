"""A Dynamixel Protocol 2.0 test double on a real pseudo-terminal.

`DynamixelDouble` opens a pty pair, answers instruction packets on the master side with real status
packet bytes, and hands out the slave path: the unmodified `dynamixel_sdk` opens that path as its
serial port, exactly as it would open /dev/ttyUSB0. Each motor ID has a control-table memory and a
simulated servo (`SimulatedMotor`) that moves toward its goal position in wall-clock time.

Instructions: PING, READ, WRITE, REBOOT, SYNC_READ, SYNC_WRITE, FAST_SYNC_READ.

Fault injection (helpers below; or change `DynamixelDouble.faults` under `double.lock`):
- `set_silent(id)`: a motor that never answers (the SDK times out); it still hears broadcasts.
- `corrupt_next_replies(N)`: the next N status packets carry a wrong CRC (COMM_RX_CORRUPT).
- `shorten_next_replies(N)`: the next N data-carrying replies lose their last byte, with length and CRC
  made consistent so only a length check can catch them.
- `garble_fast_sync_read("crc" | "length" | None)`: every Fast Sync Read reply arrives with a bad CRC, or
  one data byte short per motor with a consistent CRC (a receiver's parse fails), until set to None.
- `refuse_writes(id, register)`: writes touching that register answer "access error".
- `set_model_number(id, n)`: the motor reports another model (e.g. 1020, an XM430).
- `power_cycle(id, off_s)`: silent for off_s, then back with RAM defaults (torque off, default gains and
  Goal_Current) and EEPROM kept, as after a brown-out.
- `set_hardware_error(id, bits)`: latch Hardware_Error_Status bits; replies carry the alert bit and bits
  covered by Shutdown turn torque off until REBOOT (which answers, then leaves the motor silent for
  `boot_s` and back with RAM defaults).

Every write that turns a motor's torque on is logged in `torque_on_log` with the instruction that did it
and the motor's mode, gains and Goal_Current at that moment, so tests can check nothing was torqued on
unconfigured.

Timing: the SDK computes its reply timeout from the baud rate plus twice the USB latency timer it
assumes, so a pty (which ignores baud) still waits that long for a silent motor; the double answers
within ~1 ms.

Fast Sync Read reply layout (one packet, ID 0xFE): 55 | ERR ID DATA CRC | ERR ID DATA CRC | ... where each
device's CRC covers the packet from its first header byte to that device's data, so the last device's
CRC is the packet CRC. The per-device CRCs are computed over unstuffed bytes; the packet is then
stuffed and the final CRC recomputed over the stuffed packet, which is what a receiver checks.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Iterable
from dataclasses import dataclass, field

from flash_core.motors.dynamixel import protocol as proto
from flash_core.motors.dynamixel.simulated_motor import SimulatedMotor, SimulatedMotorConfig


@dataclass
class DoubleFaults:
    silent_ids: set[int] = field(default_factory=set)
    offline_until: dict[int, float] = field(default_factory=dict)  # motor -> monotonic time it answers again
    corrupt_crc_replies: int = 0
    short_replies: int = 0
    fast_sync_read: str | None = None  # "crc" | "length": garble every Fast Sync Read reply
    refused_registers: dict[int, set[str]] = field(default_factory=dict)  # motor -> registers it refuses


@dataclass(frozen=True)
class TorqueOn:
    """A write that turned a motor's torque on, and what the motor held at that moment."""

    motor_id: int
    instruction: int  # proto.INST_WRITE (to this motor) or proto.INST_SYNC_WRITE (broadcast)
    operating_mode: int
    position_p_gain: int
    position_d_gain: int
    goal_current: int


class DynamixelDouble:
    """Simulated Dynamixel bus behind a pty. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        motor_ids: Iterable[int] = range(16),
        model: str = "xc330-m288",
        motor_config: SimulatedMotorConfig | None = None,
        fast_sync_read: bool = True,
        boot_s: float = 0.05,
    ):
        ids = list(motor_ids)
        if not ids:
            raise ValueError("DynamixelDouble needs at least one motor ID")
        if any(not 0 <= i < proto.BROADCAST_ID - 1 for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"motor IDs must be unique and in 0..252, got {ids}")
        self.motors: dict[int, SimulatedMotor] = {i: SimulatedMotor(i, model, motor_config) for i in ids}
        self.fast_sync_read = fast_sync_read  # False: ignore FAST_SYNC_READ, like firmware without it
        self.boot_s = boot_s  # silence after REBOOT
        self.faults = DoubleFaults()
        self.torque_on_log: list[TorqueOn] = []
        self.lock = threading.Lock()
        self.instructions_received = 0
        self._master_fd: int | None = None
        self._slave_fd: int | None = None
        self._port: str | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- lifecycle ---
    @property
    def port(self) -> str:
        if self._port is None:
            raise RuntimeError("DynamixelDouble is not started; call start() first")
        return self._port

    def start(self) -> str:
        """Open the pty, start answering, return the slave path to give the SDK."""
        if self._thread is not None:
            return self.port
        self._master_fd, self._slave_fd = os.openpty()
        # Raw mode: no echo, no newline translation, no line buffering of binary packets.
        tty.setraw(self._slave_fd)
        tty.setraw(self._master_fd)
        self._port = os.ttyname(self._slave_fd)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="dynamixel-double", daemon=True)
        self._thread.start()
        return self._port

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        for fd in (self._master_fd, self._slave_fd):
            if fd is not None:
                os.close(fd)
        self._master_fd = self._slave_fd = None

    def __enter__(self) -> DynamixelDouble:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- fault helpers ---
    def set_hardware_error(self, motor_id: int, bits: int) -> None:
        with self.lock:
            self.motors[motor_id].set_hardware_error(bits)

    def set_silent(self, motor_id: int, silent: bool = True) -> None:
        with self.lock:
            (self.faults.silent_ids.add if silent else self.faults.silent_ids.discard)(motor_id)

    def corrupt_next_replies(self, count: int = 1) -> None:
        with self.lock:
            self.faults.corrupt_crc_replies += count

    def shorten_next_replies(self, count: int = 1) -> None:
        with self.lock:
            self.faults.short_replies += count

    def garble_fast_sync_read(self, kind: str | None) -> None:
        if kind not in (None, "crc", "length"):
            raise ValueError(f"garble_fast_sync_read takes 'crc', 'length' or None, got {kind!r}")
        with self.lock:
            self.faults.fast_sync_read = kind

    def refuse_writes(self, motor_id: int, register: str, refuse: bool = True) -> None:
        with self.lock:
            self.motors[motor_id].table[register]  # unknown names fail here
            refused = self.faults.refused_registers.setdefault(motor_id, set())
            (refused.add if refuse else refused.discard)(register)

    def set_model_number(self, motor_id: int, model_number: int) -> None:
        with self.lock:
            self.motors[motor_id].set("Model_Number", model_number)

    def power_cycle(self, motor_id: int, off_s: float = 0.0) -> None:
        with self.lock:
            self._restart(motor_id, off_s)

    def _restart(self, motor_id: int, off_s: float) -> None:
        self.motors[motor_id].power_cycle()
        self.faults.offline_until[motor_id] = time.monotonic() + off_s

    # --- serving ---
    def _serve(self) -> None:
        parser = proto.PacketParser()
        last = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master_fd], [], [], 0.005)
            now = time.monotonic()
            with self.lock:
                for motor in self.motors.values():
                    motor.step(now - last)
            last = now
            if not ready:
                continue
            try:
                data = os.read(self._master_fd, 4096)
            except OSError:  # the reading side went away; keep serving until stopped
                time.sleep(0.005)
                continue
            replies = bytearray()
            with self.lock:
                for packet in parser.feed(data):
                    self.instructions_received += 1
                    replies += self._handle(packet)
                for motor_id in parser.crc_failures:
                    if motor_id in self.motors and motor_id not in self.faults.silent_ids:
                        replies += self._status(motor_id, proto.ERROR_CRC)
                parser.crc_failures.clear()
            if replies:
                os.write(self._master_fd, bytes(replies))

    def _answering(self, motor_id: int) -> bool:
        return (
            motor_id in self.motors
            and motor_id not in self.faults.silent_ids
            and time.monotonic() >= self.faults.offline_until.get(motor_id, 0.0)
        )

    def _write(self, motor_id: int, address: int, data: bytes, instruction: int) -> int:
        """A write as the motor would take it, with refusals injected and torque-on events logged."""
        motor = self.motors[motor_id]
        if time.monotonic() < self.faults.offline_until.get(motor_id, 0.0):
            return 0  # powered off: hears nothing
        for register in self.faults.refused_registers.get(motor_id, ()):
            start, size = motor.table[register]
            if address < start + size and start < address + len(data):
                return proto.ERROR_ACCESS | motor.alert_flag()
        torque_before = motor.get("Torque_Enable")
        error = motor.write_bytes(address, data)
        if not torque_before and motor.get("Torque_Enable"):
            self.torque_on_log.append(TorqueOn(
                motor_id, instruction, motor.get("Operating_Mode"), motor.get("Position_P_Gain"),
                motor.get("Position_D_Gain"), motor.get("Goal_Current"),
            ))
        return error

    def _status(self, motor_id: int, error: int, params: bytes = b"") -> bytes:
        if params and self.faults.short_replies > 0:
            self.faults.short_replies -= 1
            params = params[:-1]
        packet = proto.status_packet(motor_id, error, params)
        return self._maybe_corrupt(packet)

    def _maybe_corrupt(self, packet: bytes) -> bytes:
        if self.faults.corrupt_crc_replies > 0:
            self.faults.corrupt_crc_replies -= 1
            packet = packet[:-1] + bytes([packet[-1] ^ 0xFF])
        return packet

    def _handle(self, packet: proto.Packet) -> bytes:
        p = packet.params
        targets = list(self.motors) if packet.id == proto.BROADCAST_ID else [packet.id]
        if packet.instruction == proto.INST_PING:
            out = b""
            for motor_id in targets:
                if self._answering(motor_id):
                    motor = self.motors[motor_id]
                    info = motor.get("Model_Number").to_bytes(2, "little") + bytes([motor.get("Firmware_Version")])
                    out += self._status(motor_id, motor.alert_flag(), info)
            return out
        if packet.instruction == proto.INST_READ and len(p) == 4 and self._answering(packet.id):
            address, length = int.from_bytes(p[0:2], "little"), int.from_bytes(p[2:4], "little")
            data, error = self.motors[packet.id].read_bytes(address, length)
            return self._status(packet.id, error, data)
        if packet.instruction == proto.INST_WRITE and len(p) >= 2:
            address = int.from_bytes(p[0:2], "little")
            errors = {i: self._write(i, address, p[2:], proto.INST_WRITE) for i in targets if i in self.motors}
            if packet.id == proto.BROADCAST_ID or not self._answering(packet.id):
                return b""
            return self._status(packet.id, errors[packet.id])
        if packet.instruction == proto.INST_REBOOT and self._answering(packet.id):
            reply = self._status(packet.id, self.motors[packet.id].alert_flag())
            self._restart(packet.id, self.boot_s)
            return reply
        if packet.instruction == proto.INST_SYNC_WRITE and len(p) >= 4:
            address, length = int.from_bytes(p[0:2], "little"), int.from_bytes(p[2:4], "little")
            for offset in range(4, len(p) - length, length + 1):
                motor_id = p[offset]
                if motor_id in self.motors:
                    self._write(motor_id, address, p[offset + 1 : offset + 1 + length], proto.INST_SYNC_WRITE)
            return b""
        if packet.instruction == proto.INST_SYNC_READ and len(p) >= 4:
            address, length = int.from_bytes(p[0:2], "little"), int.from_bytes(p[2:4], "little")
            out = b""
            for motor_id in p[4:]:
                if self._answering(motor_id):
                    data, error = self.motors[motor_id].read_bytes(address, length)
                    out += self._status(motor_id, error, data)
            return out
        if packet.instruction == proto.INST_FAST_SYNC_READ and len(p) >= 4 and self.fast_sync_read:
            address, length = int.from_bytes(p[0:2], "little"), int.from_bytes(p[2:4], "little")
            return self._fast_sync_read_reply(address, length, [i for i in p[4:] if i in self.motors])
        if packet.id in self.motors and self._answering(packet.id):
            return self._status(packet.id, proto.ERROR_INSTRUCTION)
        return b""

    def _fast_sync_read_reply(self, address: int, length: int, motor_ids: list[int]) -> bytes:
        if not motor_ids:
            return b""
        # The length field announces every requested device; a silent one leaves the packet short,
        # as a broken daisy chain would.
        announced = 1 + len(motor_ids) * (length + 4)
        head = proto.HEADER + bytes([proto.BROADCAST_ID, announced & 0xFF, announced >> 8])
        body = bytearray([proto.INST_STATUS])
        answering = [i for i in motor_ids if self._answering(i)]
        garble = self.faults.fast_sync_read
        for n, motor_id in enumerate(answering):
            data, error = self.motors[motor_id].read_bytes(address, length)
            if self.faults.short_replies > 0 or garble == "length":
                self.faults.short_replies = max(0, self.faults.short_replies - 1)
                data = data[:-1]
            body += bytes([error, motor_id]) + data
            if n < len(answering) - 1:
                crc = proto.crc16(head + body)
                body += bytes([crc & 0xFF, crc >> 8])
        stuffed = proto.stuff(body)
        if len(answering) == len(motor_ids):
            total = len(stuffed) + 2
            head = proto.HEADER + bytes([proto.BROADCAST_ID, total & 0xFF, total >> 8])
        crc = proto.crc16(head + stuffed) ^ (0xFFFF if garble == "crc" else 0)
        return self._maybe_corrupt(head + stuffed + bytes([crc & 0xFF, crc >> 8]))
