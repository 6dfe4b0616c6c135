"""Spin loops that run while Python's garbage collector is paused.

A collection that starts inside an executor's wait can finalise rclpy objects (handles of nodes, futures or
executors that earlier code dropped) while the wait holds their locks: one CI run deadlocked that way, every
thread parked on a futex and the main one "Garbage-collecting" in `wait_for_ready_callbacks` (found from a
faulthandler dump; no Python-level timeout can interrupt it). Loops that call `spin_once` from a client or a
test therefore pause the collector while they spin and let it run again when they return. No collection is
forced afterwards: its pause starves threads that keep real-time loops (the Dynamixel bus double's).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Inside the block Python's cyclic garbage collector does not run; its earlier state comes back after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
