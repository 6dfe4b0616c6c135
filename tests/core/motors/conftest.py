"""Fixtures: a Protocol 2.0 double on a pty, and a LEAP hand driven through the unmodified SDK."""

from __future__ import annotations

import pytest

from flash_core.motors import LeapHand, LeapHandConfig
from flash_core.motors.dynamixel_double import DynamixelDouble

pytest.importorskip("dynamixel_sdk")


@pytest.fixture
def double():
    with DynamixelDouble(range(16)) as d:
        yield d


@pytest.fixture(params=[True, False], ids=["fast_sync_read", "sync_read"])
def hand(request, double):
    config = LeapHandConfig(port=double.port, fast_sync_read=request.param)
    with LeapHand(config) as h:
        yield h
