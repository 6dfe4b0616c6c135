"""`MotorsBus` over the unmodified ROBOTIS `dynamixel_sdk` (Protocol 2.0).

The SDK builds and sends the packets (PortHandler, PacketHandler(2.0), GroupSyncRead/GroupSyncWrite);
this class only turns its result codes into `Reply`s. SDK behaviours that need care:

- Its reply timeout assumes a 16 ms USB latency timer: 34 ms per silent motor, more than three 100 Hz
  control periods. The timeout here uses `latency_timer_ms` (1 ms: what ROBOTIS recommends setting on
  Linux); a USB adapter whose sysfs latency timer is higher raises it to match, and says so in `notes`.
- After a failed group read, later status packets may still be in flight and would be mistaken for the
  next transaction's replies; `_recover` waits (briefly) for the line to go quiet and drops them.
- Group helpers stop at the first failing motor and drop the status ERROR byte; `readRx` discards
  packets of other IDs and slices a fixed data length (a short reply then "contains" its CRC bytes);
  the fast-sync receiver neither removes byte stuffing nor checks lengths. So the SDK builds and sends
  every request, its `rxPacket` receives and CRC-checks every status packet, and the replies are split
  here, with lengths taken from the packets and checked.
- `rxPacket` busy-polls the port; here every read of the port first sleeps in select() until bytes come.

Fast Sync Read (one status packet for all motors) is used while it works. A Fast Sync Read that fails
as a whole is followed by one plain Sync Read of the same motors, which also tells which motor is
silent. If that plain read gets every motor, the failure was the fast reply itself: the first time for
motors that never answered Fast Sync Read (firmware without it), or after `fast_fallback_after`
unparseable (CRC or length) replies in a row, the bus switches to plain Sync Read for good and says why
in `fast_sync_read_note`.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from flash_core.motors.motors_bus import BusConfig, Failure, Motor, MotorsBus, Reply
from flash_core.utils.require import require_package

try:
    from termios import error as _TermiosError  # pyserial's POSIX backend raises it on a dead tty
except ImportError:  # not POSIX

    class _TermiosError(Exception):
        pass


# What a vanished port (unplugged adapter, closed pty) or a malformed packet makes the SDK raise.
# pyserial's SerialException is an OSError.
_PORT_ERRORS = (OSError, _TermiosError, ValueError, IndexError, TypeError)

# SDK result codes (dynamixel_sdk.robotis_def) -> our failure kinds.
_COMM_SUCCESS = 0
_COMM_RX_TIMEOUT = -3001
_COMM_RX_CORRUPT = -3002

# Longest reply set the timeout has to cover: plain Sync Read of 16 motors x 10 bytes (16 x 21 bytes).
_LONGEST_REPLY_BYTES = 400
# How long _recover waits at most for late bytes of a failed transaction.
_RECOVER_S = 0.002


def _failure(result: int) -> Failure | None:
    if result == _COMM_SUCCESS:
        return None
    if result == _COMM_RX_TIMEOUT:
        return Failure.TIMEOUT
    if result == _COMM_RX_CORRUPT:
        return Failure.CRC
    return Failure.IO


def usb_latency_timer_path(port: str) -> Path:
    """Where Linux exposes the USB-serial latency timer of `port` (e.g. /dev/ttyUSB0)."""
    return Path("/sys/bus/usb-serial/devices") / os.path.basename(os.path.realpath(port)) / "latency_timer"


def _port_handler(sdk, port: str, latency_timer_ms: float, wait_for_bytes: Callable[[], None]):
    """The SDK's PortHandler with its reply timeout computed from `latency_timer_ms` instead of 16 ms,
    and `wait_for_bytes` called before every read of the port."""

    class PortHandler(sdk.PortHandler):
        def setPacketTimeout(self, packet_length):  # noqa: N802 - the SDK's name
            self.packet_start_time = self.getCurrentTime()
            self.packet_timeout = self.tx_time_per_byte * packet_length + 2.0 * latency_timer_ms + 2.0

        def readPort(self, length):  # noqa: N802 - the SDK's name
            wait_for_bytes()
            return super().readPort(length)

    return PortHandler(port)


class DynamixelMotorsBus(MotorsBus):
    """Dynamixel X-series motors on one serial port, spoken to through `dynamixel_sdk`."""

    def __init__(
        self,
        port: str,
        motors: Mapping[str, Motor],
        baudrate: int = 4_000_000,
        fast_sync_read: bool = True,
        config: BusConfig | None = None,
        latency_timer_ms: float = 1.0,
        fast_fallback_after: int = 3,
    ):
        super().__init__(port, motors, config)
        if latency_timer_ms < 0 or fast_fallback_after < 1:
            raise ValueError(f"latency_timer_ms must be >= 0 and fast_fallback_after >= 1, got "
                             f"{latency_timer_ms}, {fast_fallback_after}")
        self.baudrate = baudrate
        self.fast_sync_read = fast_sync_read
        self.fast_sync_read_note: str | None = None  # why Fast Sync Read was turned off, once it was
        self.latency_timer_ms = latency_timer_ms
        self.fast_fallback_after = fast_fallback_after
        self.notes: list[str] = []  # what connect() found worth telling the user
        self._sdk = require_package(
            "dynamixel_sdk", feature="the Dynamixel motor bus", install_hint="pip install dynamixel-sdk==4.1.0"
        )
        self._port_handler = None
        self._packet_handler = None
        self._fast_sync_read_worked = False
        self._fast_failure: tuple[frozenset[int], Failure] | None = None  # the last Fast Sync Read's, if it failed
        self._unparsed_fast_replies = 0  # in a row, each confirmed by a plain Sync Read that worked

    @property
    def is_connected(self) -> bool:
        return self._port_handler is not None and self._port_handler.is_open

    @property
    def transaction_timeout_s(self) -> float:
        ms_per_byte = 10_000.0 / self.baudrate  # 10 bits per byte on the wire
        return (2.0 * self.latency_timer_ms + 2.0 + ms_per_byte * _LONGEST_REPLY_BYTES) / 1e3 + _RECOVER_S

    def _transfer_connect(self) -> None:
        self._check_latency_timer()
        sdk = self._sdk
        port_handler = _port_handler(sdk, self.port, self.latency_timer_ms, self._wait_for_bytes)
        try:
            opened = port_handler.openPort()
        except _PORT_ERRORS as exc:
            raise ConnectionError(f"cannot open Dynamixel port '{self.port}': {exc}") from exc
        if not opened or not port_handler.setBaudRate(self.baudrate):
            raise ConnectionError(f"cannot open Dynamixel port '{self.port}' at {self.baudrate} baud "
                                  "(the SDK supports 9600..4000000 standard rates)")
        self._port_handler = port_handler
        self._packet_handler = sdk.PacketHandler(2.0)

    def _check_latency_timer(self) -> None:
        path = usb_latency_timer_path(self.port)
        try:
            actual_ms = float(path.read_text())
        except (OSError, ValueError):
            return  # not a USB serial adapter (a pty, a native UART): nothing to match
        if actual_ms > self.latency_timer_ms:
            self.latency_timer_ms = actual_ms
            self.notes.append(
                f"{self.port}: USB latency timer is {actual_ms:g} ms, so a silent motor costs "
                f"{self.transaction_timeout_s * 1e3:.0f} ms per transaction; set it to 1 ms for the control loop: "
                f"echo 1 | sudo tee {path}"
            )

    def _transfer_disconnect(self) -> None:
        try:
            self._port_handler.closePort()
        finally:
            self._port_handler = None

    def _guarded(self, transfer) -> Reply:
        """Run an SDK call; a port error (unplugged adapter, closed pty) becomes a Failure.IO reply."""
        try:
            return transfer()
        except _PORT_ERRORS:
            self._port_handler.is_using = False  # the SDK leaves its busy flag set when it raises
            return Reply(failure=Failure.IO)

    def _recover(self) -> None:
        # Replies to a failed transaction can still be arriving: wait (briefly) until the line is quiet,
        # then drop whatever came in.
        try:
            deadline = time.monotonic() + _RECOVER_S
            before = self._port_handler.getBytesAvailable()
            while time.monotonic() < deadline:
                time.sleep(_RECOVER_S / 4)
                now = self._port_handler.getBytesAvailable()
                if now == before:
                    break
                before = now
            self._port_handler.clearPort()
        except _PORT_ERRORS:
            pass
        self._port_handler.is_using = False

    def _wait_for_bytes(self) -> None:
        """Sleep in select() until reply bytes are there or the SDK's deadline passes (before each read).

        The SDK's rxPacket polls the port in a busy loop, holding the GIL and a CPU that the replying
        side (the pty double, or the USB driver) needs. Blocking first costs nothing: rxPacket then finds
        the bytes, or times out at once on the deadline it set.
        """
        port = self._port_handler
        if port.getBytesAvailable():
            return
        remaining_ms = port.packet_timeout - port.getTimeSinceStart()
        if remaining_ms > 0:
            select.select([port.ser], [], [], remaining_ms / 1000.0)

    def _transfer_ping(self, motor_id: int) -> Reply:
        def ping() -> Reply:
            model, result, error = self._packet_handler.ping(self._port_handler, motor_id)
            return Reply(data=int(model).to_bytes(2, "little"), error=error, failure=_failure(result))

        return self._guarded(ping)

    def _transfer_read(self, motor_id: int, address: int, length: int) -> Reply:
        def read() -> Reply:
            result = self._packet_handler.readTx(self._port_handler, motor_id, address, length)
            if result != _COMM_SUCCESS:
                return Reply(failure=_failure(result))
            return self._receive_status([motor_id])[motor_id]

        return self._guarded(read)

    def _transfer_write(self, motor_id: int, address: int, data: bytes) -> Reply:
        def write() -> Reply:
            result, error = self._packet_handler.writeTxRx(self._port_handler, motor_id, address, len(data),
                                                           list(data))
            return Reply(error=error, failure=_failure(result))

        return self._guarded(write)

    def _transfer_reboot(self, motor_id: int) -> Reply:
        def reboot() -> Reply:
            result, error = self._packet_handler.reboot(self._port_handler, motor_id)
            return Reply(error=error, failure=_failure(result))

        return self._guarded(reboot)

    def _transfer_sync_write(self, address: int, data: Mapping[int, bytes]) -> Reply:
        length = len(next(iter(data.values())))
        group = self._sdk.GroupSyncWrite(self._port_handler, self._packet_handler, address, length)
        for motor_id, value in data.items():
            group.addParam(motor_id, list(value))
        return self._guarded(lambda: Reply(failure=_failure(group.txPacket())))

    def _transfer_sync_read(self, motor_ids: Sequence[int], address: int, length: int) -> dict[int, Reply]:
        group = self._sdk.GroupSyncRead(self._port_handler, self._packet_handler, address, length)
        for motor_id in motor_ids:
            group.addParam(motor_id)
        try:
            if not self.fast_sync_read or self._fast_failure is not None:
                replies = self._plain_sync_read(group, motor_ids)
                self._judge_fast_failure(motor_ids, replies)
                return replies
            replies = self._fast_sync_read(group, motor_ids, length)
        except _PORT_ERRORS:
            self._port_handler.is_using = False
            failed = Reply(failure=Failure.IO)
            return {i: failed for i in motor_ids}
        if all(r.ok for r in replies.values()):
            self._fast_sync_read_worked = True
            self._unparsed_fast_replies = 0
        elif not any(r.ok for r in replies.values()):
            self._fast_failure = (frozenset(motor_ids), next(iter(replies.values())).failure)
        return replies

    def _judge_fast_failure(self, motor_ids: Sequence[int], plain: dict[int, Reply]) -> None:
        """After a failed Fast Sync Read: did the plain Sync Read of the same motors show the fast reply
        itself was the problem (every motor answered), rather than a silent motor?"""
        failure, self._fast_failure = self._fast_failure, None
        if failure is None or failure[0] != frozenset(motor_ids) or not all(r.ok for r in plain.values()):
            return
        kind = failure[1]
        if kind is Failure.TIMEOUT and not self._fast_sync_read_worked:
            self._use_plain_sync_read("the motors do not answer Fast Sync Read (firmware without it?)")
        elif kind in (Failure.CRC, Failure.LENGTH):
            self._unparsed_fast_replies += 1
            if self._unparsed_fast_replies >= self.fast_fallback_after:
                self._use_plain_sync_read(
                    f"{self._unparsed_fast_replies} Fast Sync Read replies in a row failed to parse "
                    f"({kind.value}) while plain Sync Read of the same motors worked"
                )

    def _use_plain_sync_read(self, why: str) -> None:
        self.fast_sync_read = False
        self.fast_sync_read_note = f"using plain Sync Read on {self.port}: {why}"

    def _plain_sync_read(self, group, motor_ids: Sequence[int]) -> dict[int, Reply]:
        result = group.txPacket()
        if result != _COMM_SUCCESS:
            failed = Reply(failure=_failure(result))
            return {i: failed for i in motor_ids}
        return self._receive_status(motor_ids)

    def _receive_status(self, motor_ids: Sequence[int]) -> dict[int, Reply]:
        """Collect one status packet per ID until all arrived or the SDK's deadline passed.

        Unlike the SDK's readRx, packets from other IDs are kept (so one silent motor costs one timeout,
        not the replies of every motor after it), and the data length comes from the packet's LENGTH
        field (readRx slices a fixed length, which silently includes CRC bytes of a short reply).
        """
        pending = set(motor_ids)
        replies: dict[int, Reply] = {}
        corrupt_seen = False
        while pending:
            packet, result = self._packet_handler.rxPacket(self._port_handler, False)
            if result == _COMM_RX_CORRUPT:
                corrupt_seen = True  # that packet is lost; the others may still be fine
                continue
            if result != _COMM_SUCCESS:
                break
            motor_id = packet[4]
            if motor_id in pending:
                data_length = (packet[5] | (packet[6] << 8)) - 4  # LEN = INST + ERR + DATA + CRC(2)
                replies[motor_id] = Reply(data=bytes(packet[9 : 9 + data_length]), error=packet[8])
                pending.discard(motor_id)
        missing = Reply(failure=Failure.CRC if corrupt_seen else Failure.TIMEOUT)
        replies.update({i: missing for i in pending})
        return replies

    def _fast_sync_read(self, group, motor_ids: Sequence[int], length: int) -> dict[int, Reply]:
        """One Fast Sync Read: a single status packet ERR ID DATA CRC | ERR ID DATA CRC | ... for all motors.

        A packet-level failure is returned as one Reply shared by every motor (counted once by the bus).
        """
        result = group.fastSyncReadTxPacket()
        if result == _COMM_SUCCESS:
            packet, result = self._packet_handler.rxPacket(self._port_handler, True)
        if result != _COMM_SUCCESS:
            failed = Reply(failure=_failure(result))
            return {i: failed for i in motor_ids}
        packet = self._packet_handler.removeStuffing(list(packet))  # the SDK skips this for fast replies
        total = 7 + (packet[5] | (packet[6] << 8))
        # From the first ERR byte to the end, with the packet CRC standing in for the last motor's CRC.
        body = bytes(packet[8:total])
        segment = length + 4  # ERR + ID + DATA + CRC
        if len(body) != segment * len(motor_ids):
            failed = Reply(failure=Failure.LENGTH)
            return {i: failed for i in motor_ids}
        replies = {}
        for start in range(0, len(body), segment):
            error, motor_id = body[start], body[start + 1]
            replies[motor_id] = Reply(data=body[start + 2 : start + 2 + length], error=error)
        garbled = Reply(failure=Failure.CRC)  # no segment for a requested ID: the packet is not what it says
        return {i: replies.get(i, garbled) for i in motor_ids}
