"""FaultLog: a line when a fault appears, changes or clears; flapping throttled and counted."""

from __future__ import annotations

import logging

from flash_core.motors import FaultLine, FaultLog


def test_lines_only_on_change():
    log = FaultLog(throttle_s=2.0)
    assert log.update({"3": "motor 3: absent"}, now_s=0.0) == [FaultLine(logging.WARNING, "motor 3: absent")]
    assert log.update({"3": "motor 3: absent"}, now_s=0.01) == []  # the same fault next cycle: nothing
    assert log.update({}, now_s=3.0) == [FaultLine(logging.INFO, "cleared: motor 3: absent")]
    assert log.update({}, now_s=3.01) == []


def test_flapping_fault_is_throttled_and_counted():
    log = FaultLog(throttle_s=2.0)
    log.update({"5": "motor 5: fault"}, now_s=0.0)
    for t in (0.1, 0.3, 0.5):  # clears, comes back, clears: within the throttle time
        assert log.update({} if t != 0.3 else {"5": "motor 5: fault"}, now_s=t) == []
    cleared = "cleared: motor 5: fault (3 changes since the last line)"
    assert log.update({}, now_s=2.5) == [FaultLine(logging.INFO, cleared)]
    # Another fault meanwhile is not held back by this one.
    assert log.update({"6": "motor 6: absent"}, now_s=2.6) == [FaultLine(logging.WARNING, "motor 6: absent")]

