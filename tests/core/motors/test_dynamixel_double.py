"""The pty double answers the unmodified dynamixel_sdk like a bus of XC330 motors, faults included."""

from __future__ import annotations

import time

import pytest

from flash_core.motors.dynamixel.tables import MODEL_NUMBERS, XC330_CONTROL_TABLE

sdk = pytest.importorskip("dynamixel_sdk")


@pytest.fixture
def double(raw_double):
    """The double alone: these tests turn torque on however they like (no LEAP hand audit)."""
    return raw_double

GOAL_POSITION = XC330_CONTROL_TABLE["Goal_Position"][0]
PRESENT_POSITION = XC330_CONTROL_TABLE["Present_Position"][0]
TORQUE_ENABLE = XC330_CONTROL_TABLE["Torque_Enable"][0]
OPERATING_MODE = XC330_CONTROL_TABLE["Operating_Mode"][0]


class SlackPortHandler(sdk.PortHandler):
    """The SDK's port with at least 200 ms per reply, so a loaded CI machine does not turn a late
    double into a failed test. The driver itself runs on the stock PortHandler."""

    def setPacketTimeout(self, packet_length):
        super().setPacketTimeout(packet_length)
        self.packet_timeout = max(self.packet_timeout, 200.0)


@pytest.fixture
def link(double):
    port = SlackPortHandler(double.port)
    assert port.openPort() and port.setBaudRate(4_000_000)
    yield port, sdk.PacketHandler(2.0)
    port.closePort()


def test_ping_reports_the_model_number(link):
    port, handler = link
    model, result, error = handler.ping(port, 5)
    assert (model, result, error) == (MODEL_NUMBERS["xc330-m288"], sdk.COMM_SUCCESS, 0)
    _, result, _ = handler.ping(port, 40)  # no such motor
    assert result == sdk.COMM_RX_TIMEOUT


def test_write_then_read_back_with_stuffing_bytes(link, double):
    port, handler = link
    # FF FF FD inside the data: the reply must be stuffed and the SDK must unstuff it.
    value = int.from_bytes(bytes([0xFF, 0xFF, 0xFD, 0x01]), "little")
    assert handler.write4ByteTxRx(port, 2, XC330_CONTROL_TABLE["Homing_Offset"][0], value) == (sdk.COMM_SUCCESS, 0)
    assert handler.read4ByteTxRx(port, 2, XC330_CONTROL_TABLE["Homing_Offset"][0]) == (value, sdk.COMM_SUCCESS, 0)


def test_eeprom_write_is_refused_while_torque_is_on(link, double):
    port, handler = link
    assert handler.write1ByteTxRx(port, 1, TORQUE_ENABLE, 1)[0] == sdk.COMM_SUCCESS
    result, error = handler.write1ByteTxRx(port, 1, OPERATING_MODE, 5)
    assert result == sdk.COMM_SUCCESS and error == 7  # access error
    assert double.motors[1].get("Operating_Mode") == 3
    handler.write1ByteTxRx(port, 1, TORQUE_ENABLE, 0)
    assert handler.write1ByteTxRx(port, 1, OPERATING_MODE, 5) == (sdk.COMM_SUCCESS, 0)
    assert double.motors[1].get("Operating_Mode") == 5


@pytest.mark.parametrize("fast", [False, True], ids=["sync_read", "fast_sync_read"])
def test_sync_write_moves_motors_and_sync_read_sees_it(link, double, fast):
    port, handler = link
    ids = [0, 3, 7]
    torque = sdk.GroupSyncWrite(port, handler, TORQUE_ENABLE, 1)
    goals = sdk.GroupSyncWrite(port, handler, GOAL_POSITION, 4)
    for i in ids:
        torque.addParam(i, [1])
        goals.addParam(i, list((1000 + 100 * i).to_bytes(4, "little")))
    assert torque.txPacket() == sdk.COMM_SUCCESS
    assert goals.txPacket() == sdk.COMM_SUCCESS
    time.sleep(0.6)  # ~12 time constants of the simulated servo
    read = sdk.GroupSyncRead(port, handler, PRESENT_POSITION, 4)
    for i in ids:
        read.addParam(i)
    assert (read.fastSyncRead() if fast else read.txRxPacket()) == sdk.COMM_SUCCESS
    for i in ids:
        assert read.getData(i, PRESENT_POSITION, 4) == pytest.approx(1000 + 100 * i, abs=2)
    assert double.motors[5].get("Present_Position") == 2048  # not addressed: unmoved


def test_corrupt_crc_is_seen_by_the_sdk(link, double):
    port, handler = link
    double.corrupt_next_replies(1)
    assert handler.read4ByteTxRx(port, 4, PRESENT_POSITION)[1] == sdk.COMM_RX_CORRUPT
    assert handler.read4ByteTxRx(port, 4, PRESENT_POSITION) == (2048, sdk.COMM_SUCCESS, 0)


def test_silent_motor_times_out_in_the_sdk(link, double):
    port, handler = link
    double.set_silent(4)
    assert handler.ping(port, 4)[1] == sdk.COMM_RX_TIMEOUT
    double.set_silent(4, False)
    assert handler.ping(port, 4)[1] == sdk.COMM_SUCCESS


def test_hardware_error_sets_the_alert_bit(link, double):
    port, handler = link
    double.set_hardware_error(6, 0b0010_0100)
    _, result, error = handler.read4ByteTxRx(port, 6, PRESENT_POSITION)
    assert result == sdk.COMM_SUCCESS and error & 0x80
    assert handler.read1ByteTxRx(port, 6, XC330_CONTROL_TABLE["Hardware_Error_Status"][0])[0] == 0b0010_0100


def test_short_reply_passes_the_crc(link, double):
    port, handler = link
    double.shorten_next_replies(1)
    packet_length = []
    original = handler.rxPacket

    def spy(port_, fast):
        packet, result = original(port_, fast)
        packet_length.append(packet[5] | (packet[6] << 8))
        return packet, result

    handler.rxPacket = spy
    _, result, _ = handler.read4ByteTxRx(port, 2, PRESENT_POSITION)
    assert result == sdk.COMM_SUCCESS  # CRC and length field agree: only a length check can tell
    assert packet_length == [4 + 3]


def test_cli_double_serves_the_printed_port():
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "flash_core.cli", "leap-double", "--ids", "1", "2",
                             "--seconds", "20"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[1].startswith("port: /dev/"), lines
        port = SlackPortHandler(lines[1].split()[1])
        assert port.openPort() and port.setBaudRate(4_000_000)
        handler = sdk.PacketHandler(2.0)
        assert handler.ping(port, 2)[1] == sdk.COMM_SUCCESS
        assert handler.ping(port, 3)[1] == sdk.COMM_RX_TIMEOUT  # only IDs 1 and 2 exist
        port.closePort()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_reboot_answers_then_restarts_with_ram_defaults(link, double):
    port, handler = link
    handler.write1ByteTxRx(port, 3, OPERATING_MODE, 5)
    handler.write2ByteTxRx(port, 3, XC330_CONTROL_TABLE["Position_P_Gain"][0], 600)
    handler.write1ByteTxRx(port, 3, TORQUE_ENABLE, 1)
    double.set_hardware_error(3, 0b0010_0000)  # overload: in Shutdown, so torque goes off
    assert double.motors[3].get("Torque_Enable") == 0
    result, error = handler.write1ByteTxRx(port, 3, TORQUE_ENABLE, 1)
    assert result == sdk.COMM_SUCCESS and error == 0x80 | 1  # alert + result fail: no torque until reboot
    assert handler.reboot(port, 3) == (sdk.COMM_SUCCESS, 0x80)
    assert handler.ping(port, 3)[1] == sdk.COMM_RX_TIMEOUT  # booting
    time.sleep(double.boot_s)
    assert handler.ping(port, 3)[1] == sdk.COMM_SUCCESS
    motor = double.motors[3]
    assert (motor.get("Hardware_Error_Status"), motor.get("Torque_Enable")) == (0, 0)
    assert motor.get("Position_P_Gain") == 800 and motor.get("Goal_Current") == motor.get("Current_Limit")
    assert motor.get("Operating_Mode") == 5  # EEPROM survives


def test_power_cycle_is_silent_then_back_with_ram_defaults(link, double):
    port, handler = link
    handler.write2ByteTxRx(port, 2, XC330_CONTROL_TABLE["Goal_Current"][0], 350)
    double.power_cycle(2, off_s=0.1)
    assert handler.ping(port, 2)[1] == sdk.COMM_RX_TIMEOUT
    time.sleep(0.1)
    assert handler.ping(port, 2)[1] == sdk.COMM_SUCCESS
    assert double.motors[2].get("Goal_Current") == 1750


def test_refused_register_answers_access_error(link, double):
    port, handler = link
    double.refuse_writes(4, "Operating_Mode")
    assert handler.write1ByteTxRx(port, 4, OPERATING_MODE, 5) == (sdk.COMM_SUCCESS, 7)
    assert double.motors[4].get("Operating_Mode") == 3
    assert handler.write1ByteTxRx(port, 4, TORQUE_ENABLE, 1) == (sdk.COMM_SUCCESS, 0)  # other registers: fine
    assert [(e.motor_id, e.instruction, e.operating_mode) for e in double.torque_on_log] == [(4, 0x03, 3)]
    with pytest.raises(KeyError):
        double.refuse_writes(4, "No_Such_Register")


def test_model_number_and_garbled_fast_sync_read(link, double):
    port, handler = link
    double.set_model_number(7, 1020)
    assert handler.ping(port, 7)[0] == 1020
    read = sdk.GroupSyncRead(port, handler, PRESENT_POSITION, 4)
    for i in (0, 1):
        read.addParam(i)
    double.garble_fast_sync_read("crc")
    assert read.fastSyncRead() == sdk.COMM_RX_CORRUPT
    assert read.txRxPacket() == sdk.COMM_SUCCESS  # plain Sync Read is untouched
    double.garble_fast_sync_read(None)
    assert read.fastSyncRead() == sdk.COMM_SUCCESS
    with pytest.raises(ValueError, match="garble"):
        double.garble_fast_sync_read("bits")
