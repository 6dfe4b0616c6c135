"""The grasp server's queue policy.

One goal runs at a time (the model is not re-entrant and a CPU has no room for two). Accepted goals wait here, first
come first served, in the ACCEPTED state and without an executor thread: a goal is handed to the executor
(`handle.execute()`) only when it starts. Up to `capacity` goals wait; the server rejects further goals.

A waiting goal that is cancelled, whose time budget runs out, or that was found invalid on arrival (and every
waiting goal once the queue is closed for shutdown) is handed to the executor at once, next to the running goal;
its execute callback ends it straight away without the model.

`dispatch()` runs on every arrival, at the end of every goal and from a short timer while goals wait: the cancel
callback cannot end a goal itself (rclpy marks the goal CANCELING only after the callback returns), so the timer's
next tick does.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class _Waiting:
    handle: Any  # rclpy ServerGoalHandle
    deadline_s: float  # time.monotonic() at which its budget runs out (inf: none)
    start_now: bool  # ends without the model (found invalid on arrival)


class GoalQueue:
    def __init__(self, capacity: int):
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._running = None
        self._closed = False

    def has_room(self) -> bool:
        with self._lock:
            return not self._closed and (len(self._waiting) < self.capacity or self._running is None)

    def close(self) -> None:
        """Take no more goals and hand every waiting goal over now (the server is shutting down)."""
        with self._lock:
            self._closed = True
        self.dispatch()

    def has_waiting(self) -> bool:
        with self._lock:
            return bool(self._waiting)

    def idle(self) -> bool:
        with self._lock:
            return self._running is None and not self._waiting

    def put(self, handle, deadline_s: float, start_now: bool = False) -> None:
        """Queue an accepted goal handle."""
        with self._lock:
            self._waiting.append(_Waiting(handle, deadline_s, start_now))
        self.dispatch()

    def dispatch(self) -> None:
        """Start the oldest goal when none runs; hand cancelled, expired and invalid waiting goals over at once."""
        now = time.monotonic()
        with self._lock:
            release = [w for w in self._waiting
                       if self._closed or w.start_now or w.handle.is_cancel_requested or now >= w.deadline_s]
            self._waiting = [w for w in self._waiting if w not in release]
            started = []
            if self._running is None and self._waiting:
                self._running = self._waiting.pop(0).handle
                started.append(self._running)
        for handle in [w.handle for w in release] + started:
            handle.execute()

    def done(self, handle) -> None:
        """A goal's execute callback ended; start the next one."""
        with self._lock:
            if self._running is handle:
                self._running = None
        self.dispatch()
