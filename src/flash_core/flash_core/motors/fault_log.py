"""Log lines for faults that appear, change and clear, once each, throttled per fault.

Fed every control cycle with what is wrong now ({key: message}), `FaultLog.update` returns only the
changes: a fault that appears or changes gives one warning, one that clears gives one info line. A fault
that flaps gives at most one line per `throttle_s`; the changes in between are counted and the line that
follows the quiet time says how many there were, so the log still ends on the present state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FaultLine:
    level: int  # logging.WARNING (appeared or changed) or logging.INFO (cleared)
    text: str


@dataclass
class _Tracked:
    logged: str | None  # what the last line said (None: cleared)
    at_s: float  # when
    seen: str | None  # what the last update said
    changes: int = 0  # changes seen since the last line


@dataclass
class FaultLog:
    throttle_s: float = 2.0
    _tracked: dict[str, _Tracked] = field(default_factory=dict)

    def update(self, faults: Mapping[str, str], now_s: float | None = None) -> list[FaultLine]:
        """The log lines due now, given every fault that stands now ({key: message})."""
        now_s = time.monotonic() if now_s is None else now_s
        lines = []
        for key in sorted(set(faults) | set(self._tracked)):
            current = faults.get(key)
            tracked = self._tracked.get(key)
            if tracked is None:
                if current is not None:
                    lines.append(FaultLine(logging.WARNING, current))
                    self._tracked[key] = _Tracked(current, now_s, current)
                continue
            if current != tracked.seen:
                tracked.changes += 1
                tracked.seen = current
            if current == tracked.logged or now_s - tracked.at_s < self.throttle_s:
                continue
            note = f" ({tracked.changes} changes since the last line)" if tracked.changes > 1 else ""
            if current is None:
                lines.append(FaultLine(logging.INFO, f"cleared: {tracked.logged}{note}"))
            else:
                lines.append(FaultLine(logging.WARNING, f"{current}{note}"))
            tracked.logged, tracked.at_s, tracked.changes = current, now_s, 0
        return lines
