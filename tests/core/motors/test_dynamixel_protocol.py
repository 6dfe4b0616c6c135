"""The hand-written Protocol 2.0 codec against ROBOTIS' own implementation (dynamixel_sdk) and the
e-manual's example packet."""

from __future__ import annotations

import os
import random
import select
import tty

import pytest

from flash_core.motors.dynamixel import protocol as proto

sdk = pytest.importorskip("dynamixel_sdk")


def test_crc_of_the_emanual_ping_example():
    # e-manual Protocol 2.0, PING example: FF FF FD 00 01 03 00 01 | CRC 19 4E
    assert proto.crc16(bytes.fromhex("fffffd0001030001")) == 0x4E19
    assert proto.instruction_packet(1, proto.INST_PING) == bytes.fromhex("fffffd0001030001194e")


def test_crc_matches_the_sdk_on_random_data():
    handler = sdk.Protocol2PacketHandler()
    rng = random.Random(0)
    for n in (0, 1, 2, 7, 64, 300):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert proto.crc16(data) == handler.updateCRC(0, list(data), len(data))


def test_crc_continues_across_chunks():
    data = bytes(range(200))
    assert proto.crc16(data[120:], proto.crc16(data[:120])) == proto.crc16(data)


@pytest.mark.parametrize(
    "params",
    [
        b"",
        bytes([0xFF, 0xFF, 0xFD]),
        bytes([1, 0xFF, 0xFF, 0xFD, 0xFF, 0xFF, 0xFD, 2]),
        bytes([0xFF, 0xFF, 0xFD, 0xFD]),
    ],
)
def test_stuffing_matches_the_sdk(params):
    # The SDK stuffs a whole packet in place; compare the stuffed packet bytes.
    body = bytes([proto.INST_WRITE]) + params
    packet = list(proto.HEADER) + [1, (len(body) + 2) & 0xFF, (len(body) + 2) >> 8] + list(body) + [0, 0]
    sdk_stuffed = sdk.Protocol2PacketHandler().addStuffing(packet)
    ours = proto.stuff(body)
    assert bytes(sdk_stuffed[7:-2]) == ours
    assert proto.unstuff(ours) == body
    if b"\xff\xff\xfd" in params:
        assert len(ours) > len(body)


def _sdk_bytes(send) -> bytes:
    """Bytes the SDK writes to a serial port for one call (read from the master end of a pty)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = sdk.PortHandler(os.ttyname(slave))
    try:
        assert port.openPort() and port.setBaudRate(4_000_000)
        port.setPacketTimeoutMillis(0)
        send(port, sdk.PacketHandler(2.0))
        data = b""
        while select.select([master], [], [], 0.05)[0]:  # a pty may hand the bytes over in pieces
            data += os.read(master, 4096)
        return data
    finally:
        port.closePort()
        os.close(master)
        os.close(slave)


def test_parser_reads_packets_built_by_the_sdk():
    awkward = int.from_bytes(bytes([0xFF, 0xFF, 0xFD, 0x7F]), "little")  # needs stuffing

    def send(port, handler):
        handler.write4ByteTxOnly(port, 7, 116, awkward)
        handler.readTx(port, 3, 132, 4)
        port.is_using = False  # no reply will come; let the next call send
        group = sdk.GroupSyncWrite(port, handler, 116, 4)
        group.addParam(1, [1, 2, 3, 4])
        group.addParam(2, [5, 6, 7, 8])
        group.txPacket()
        read = sdk.GroupSyncRead(port, handler, 126, 10)
        for i in (4, 5):
            read.addParam(i)
        read.fastSyncReadTxPacket()

    packets = proto.PacketParser().feed(_sdk_bytes(send))
    assert [(p.id, p.instruction) for p in packets] == [
        (7, proto.INST_WRITE),
        (3, proto.INST_READ),
        (proto.BROADCAST_ID, proto.INST_SYNC_WRITE),
        (proto.BROADCAST_ID, proto.INST_FAST_SYNC_READ),
    ]
    assert packets[0].params == bytes([116, 0]) + awkward.to_bytes(4, "little")
    assert packets[1].params == bytes([132, 0, 4, 0])
    assert packets[2].params == bytes([116, 0, 4, 0, 1, 1, 2, 3, 4, 2, 5, 6, 7, 8])
    assert packets[3].params == bytes([126, 0, 10, 0, 4, 5])


def test_parser_drops_a_corrupt_packet_and_resyncs():
    parser = proto.PacketParser()
    good = proto.instruction_packet(2, proto.INST_PING)
    bad = bytearray(proto.instruction_packet(1, proto.INST_PING))
    bad[-1] ^= 0xFF
    # Garbage, a corrupt packet, then a good one split across two reads.
    packets = parser.feed(b"\x00\x13" + bytes(bad) + good[:5]) + parser.feed(good[5:])
    assert [p.id for p in packets] == [2]
    assert parser.crc_failures == [1]


def test_status_packets_are_accepted_by_the_sdk():
    handler = sdk.Protocol2PacketHandler()
    packet = list(proto.status_packet(9, 0x80, bytes([0xFF, 0xFF, 0xFD, 0x01])))
    crc = handler.updateCRC(0, packet, len(packet) - 2)
    assert crc == packet[-2] | (packet[-1] << 8)
    assert handler.removeStuffing(packet)[9:13] == [0xFF, 0xFF, 0xFD, 0x01]
