"""`MotorsBus` over the unmodified ROBOTIS `dynamixel_sdk` (Protocol 2.0).

The SDK builds and sends the packets (PortHandler, PacketHandler(2.0), GroupSyncRead/GroupSyncWrite);
this class only turns its result codes into `Reply`s. Three SDK behaviours need care:

- After a failed group read, later status packets may still be in flight and would be mistaken for the
  next transaction's replies; `_recover` waits for the line to go quiet and drops them.
- Group helpers stop at the first failing motor and drop the status ERROR byte; `readRx` discards
  packets of other IDs and slices a fixed data length (a short reply then "contains" its CRC bytes);
  the fast-sync receiver neither removes byte stuffing nor checks lengths. So the SDK builds and sends
  every request, its `rxPacket` receives and CRC-checks every status packet, and the replies are split
  here, with lengths taken from the packets and checked.
- `rxPacket` busy-polls the port; the driver first sleeps in select() until a reply starts.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Mapping, Sequence

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

_log = logging.getLogger(__name__)

# SDK result codes (dynamixel_sdk.robotis_def) -> our failure kinds.
_COMM_SUCCESS = 0
_COMM_RX_TIMEOUT = -3001
_COMM_RX_CORRUPT = -3002


def _failure(result: int) -> Failure | None:
    if result == _COMM_SUCCESS:
        return None
    if result == _COMM_RX_TIMEOUT:
        return Failure.TIMEOUT
    if result == _COMM_RX_CORRUPT:
        return Failure.CRC
    return Failure.IO


class DynamixelMotorsBus(MotorsBus):
    """Dynamixel X-series motors on one serial port, spoken to through `dynamixel_sdk`."""

    def __init__(
        self,
        port: str,
        motors: Mapping[str, Motor],
        baudrate: int = 4_000_000,
        fast_sync_read: bool = True,
        config: BusConfig | None = None,
    ):
        super().__init__(port, motors, config)
        self.baudrate = baudrate
        self.fast_sync_read = fast_sync_read
        self._sdk = require_package(
            "dynamixel_sdk", feature="the Dynamixel motor bus", install_hint="pip install dynamixel-sdk==4.1.0"
        )
        self._port_handler = None
        self._packet_handler = None
        self._fast_sync_read_confirmed = False

    @property
    def is_connected(self) -> bool:
        return self._port_handler is not None and self._port_handler.is_open

    def _transfer_connect(self) -> None:
        sdk = self._sdk
        port_handler = sdk.PortHandler(self.port)
        try:
            opened = port_handler.openPort()
        except _PORT_ERRORS as exc:
            raise ConnectionError(f"cannot open Dynamixel port '{self.port}': {exc}") from exc
        if not opened or not port_handler.setBaudRate(self.baudrate):
            raise ConnectionError(f"cannot open Dynamixel port '{self.port}' at {self.baudrate} baud "
                                  "(the SDK supports 9600..4000000 standard rates)")
        self._port_handler = port_handler
        self._packet_handler = sdk.PacketHandler(2.0)

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
        # Replies to a failed transaction can still be arriving; wait until the line has been quiet
        # for a couple of milliseconds, then drop whatever came in.
        try:
            deadline = time.monotonic() + 0.05
            while time.monotonic() < deadline:
                before = self._port_handler.getBytesAvailable()
                time.sleep(0.002)
                if self._port_handler.getBytesAvailable() == before:
                    break
            self._port_handler.clearPort()
        except _PORT_ERRORS:
            pass
        self._port_handler.is_using = False

    def _wait_for_bytes(self) -> None:
        """Sleep in select() until the reply starts arriving or the SDK's deadline passes.

        The SDK's rxPacket polls the port in a busy loop; on a small machine that loop takes the CPU the
        replying side (the pty double, or the USB driver) needs. Blocking first costs nothing: rxPacket
        then finds the bytes, or times out at once on the deadline it set.
        """
        port = self._port_handler
        if port.getBytesAvailable():
            return
        remaining_ms = port.packet_timeout - port.getTimeSinceStart()
        if remaining_ms > 0:
            select.select([port.ser], [], [], remaining_ms / 1000.0)

    def _transfer_ping(self, motor_id: int) -> Reply:
        def ping() -> Reply:
            _model, result, error = self._packet_handler.ping(self._port_handler, motor_id)
            return Reply(error=error, failure=_failure(result))

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
            if not self.fast_sync_read:
                return self._plain_sync_read(group, motor_ids)
            replies = self._fast_sync_read(group, motor_ids, length)
            if not self._fast_sync_read_confirmed:
                replies = self._confirm_fast_sync_read(group, motor_ids, replies)
            return replies
        except _PORT_ERRORS:
            self._port_handler.is_using = False
            failed = Reply(failure=Failure.IO)
            return {i: failed for i in motor_ids}

    def _confirm_fast_sync_read(self, group, motor_ids: Sequence[int], replies: dict[int, Reply]) -> dict[int, Reply]:
        """Fall back to plain Sync Read when the motors ignore Fast Sync Read (firmware without it).

        Decided on the first sync read that settles it: if every motor answers Fast Sync Read it stays on;
        if it draws a blank (timeout, no bytes) but a plain Sync Read works, the bus switches for good.
        """
        if all(r.ok for r in replies.values()):
            self._fast_sync_read_confirmed = True
            return replies
        if any(r.failure is not Failure.TIMEOUT for r in replies.values()):
            return replies  # a garbled answer is still an answer: not a firmware question, decide later
        self._recover()
        plain = self._plain_sync_read(group, motor_ids)
        if all(r.ok for r in plain.values()):
            _log.warning("motors on %s did not answer Fast Sync Read (firmware without it?); using Sync Read",
                         self.port)
            self.fast_sync_read = False
            return plain
        return replies

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
            self._wait_for_bytes()
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
            self._wait_for_bytes()
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
