"""Dynamixel Protocol 2.0 packet bytes: CRC-16, byte stuffing, instruction/status packet framing.

Written from the protocol specification (ROBOTIS e-manual, "Protocol 2.0"):

    packet = FF FF FD 00 | ID | LEN_L LEN_H | INSTRUCTION | PARAMS... | CRC_L CRC_H
    LEN    = len(INSTRUCTION + PARAMS + CRC)   (status packets put an ERROR byte first in PARAMS)

- CRC-16 with polynomial x^16 + x^15 + x^2 + 1 (0x8005), initial value 0, no reflection, computed over
  the whole (stuffed) packet from the first header byte up to the CRC.
- Byte stuffing: inside INSTRUCTION..PARAMS every FF FF FD becomes FF FF FD FD, so the header pattern
  never appears in a payload; LEN counts the stuffed bytes.

The driver itself talks through the vendor SDK; this module is what the test double speaks, and the
tests check it against packets the SDK produces.
"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = bytes([0xFF, 0xFF, 0xFD, 0x00])
BROADCAST_ID = 0xFE

INST_PING = 0x01
INST_READ = 0x02
INST_WRITE = 0x03
INST_REBOOT = 0x08
INST_STATUS = 0x55
INST_SYNC_READ = 0x82
INST_SYNC_WRITE = 0x83
INST_FAST_SYNC_READ = 0x8A

# Status packet ERROR byte: low 7 bits are a result code, bit 7 is the hardware alert flag.
ERROR_RESULT_FAIL = 1
ERROR_INSTRUCTION = 2
ERROR_CRC = 3
ERROR_DATA_RANGE = 4
ERROR_DATA_LENGTH = 5
ERROR_DATA_LIMIT = 6
ERROR_ACCESS = 7
ERROR_ALERT_BIT = 0x80

# Result codes by name, for messages ("access error" rather than "error 7").
ERROR_NAMES: dict[int, str] = {
    ERROR_RESULT_FAIL: "result fail",
    ERROR_INSTRUCTION: "instruction error",
    ERROR_CRC: "CRC error",
    ERROR_DATA_RANGE: "data range error",
    ERROR_DATA_LENGTH: "data length error",
    ERROR_DATA_LIMIT: "data limit error",
    ERROR_ACCESS: "access error",
}

_CRC_POLYNOMIAL = 0x8005


def _crc_table() -> list[int]:
    """Byte-wise lookup table of the MSB-first CRC-16/0x8005 (entry i = CRC of the byte i shifted in)."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _CRC_POLYNOMIAL) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


CRC_TABLE: tuple[int, ...] = tuple(_crc_table())


def crc16(data: bytes | bytearray, crc: int = 0) -> int:
    """CRC-16 of `data`, continuing from `crc` (0 for a fresh packet)."""
    for byte in data:
        crc = ((crc << 8) ^ CRC_TABLE[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(payload: bytes | bytearray) -> bytes:
    """Insert an extra FD after every FF FF FD in `payload` (instruction/error byte and parameters)."""
    out = bytearray()
    for byte in payload:
        out.append(byte)
        if byte == 0xFD and len(out) >= 3 and out[-3] == 0xFF and out[-2] == 0xFF:
            out.append(0xFD)
    return bytes(out)


def unstuff(payload: bytes | bytearray) -> bytes:
    """Undo `stuff`: FF FF FD FD -> FF FF FD.

    An FF FF FD followed by anything else is kept as it is: dynamixel_sdk 4.1.0's Python `txPacket`
    discards the result of its own `addStuffing`, so its instruction packets arrive unstuffed.
    """
    out = bytearray()
    i = 0
    while i < len(payload):
        out.append(payload[i])
        stuffed = (
            payload[i] == 0xFD and len(out) >= 3 and out[-3] == 0xFF and out[-2] == 0xFF
            and i + 1 < len(payload) and payload[i + 1] == 0xFD
        )
        i += 2 if stuffed else 1
    return bytes(out)


def frame(packet_id: int, body: bytes) -> bytes:
    """A complete packet around `body` = instruction (or 0x55 + error) followed by parameters."""
    stuffed = stuff(body)
    length = len(stuffed) + 2
    head = HEADER + bytes([packet_id, length & 0xFF, length >> 8])
    crc = crc16(head + stuffed)
    return head + stuffed + bytes([crc & 0xFF, crc >> 8])


def instruction_packet(packet_id: int, instruction: int, params: bytes = b"") -> bytes:
    return frame(packet_id, bytes([instruction]) + params)


def status_packet(packet_id: int, error: int, params: bytes = b"") -> bytes:
    return frame(packet_id, bytes([INST_STATUS, error]) + params)


@dataclass(frozen=True)
class Packet:
    """A received packet after CRC check and unstuffing."""

    id: int
    instruction: int
    params: bytes  # for status packets: ERROR byte first


class PacketParser:
    """Incremental parser: feed bytes as they arrive, pop complete packets.

    Garbage before a header is skipped. A packet whose CRC does not match is reported through
    `crc_failures` (with its ID, so a device can answer with a CRC error) and dropped.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.crc_failures: list[int] = []

    def feed(self, data: bytes) -> list[Packet]:
        self._buffer.extend(data)
        packets = []
        while True:
            start = self._buffer.find(HEADER)
            if start < 0:
                # Keep a possible partial header at the end.
                del self._buffer[: max(0, len(self._buffer) - 3)]
                return packets
            del self._buffer[:start]
            if len(self._buffer) < 7:
                return packets
            length = self._buffer[5] | (self._buffer[6] << 8)
            total = 7 + length
            if length < 3:  # cannot even hold instruction + CRC: not a packet, resync past this header
                del self._buffer[:1]
                continue
            if len(self._buffer) < total:
                return packets
            raw = bytes(self._buffer[:total])
            del self._buffer[:total]
            received_crc = raw[-2] | (raw[-1] << 8)
            if crc16(raw[:-2]) != received_crc:
                self.crc_failures.append(raw[4])
                continue
            body = unstuff(raw[7:-2])
            packets.append(Packet(id=raw[4], instruction=body[0], params=body[1:]))
