"""A tree of coordinate frames over time: what tf2's BufferCore keeps, without ROS.

Each frame has at most one parent. An edge parent -> child is either static (one transform, kept forever) or
dynamic (a short history of stamped transforms). `lookup(target, source, stamp_s)` returns T_target_source at
that time: the chains of both frames are walked up to their lowest common ancestor and composed; a dynamic
edge is interpolated between the two samples around the stamp (linear translation, slerp rotation).

tf2's rules, kept here so a tf2 user finds no surprise:
- `stamp_s=None` means "the latest time every dynamic edge on the path has data for" (tf2's time 0).
- No extrapolation: a stamp outside an edge's history fails, except within `max_extrapolation_s`, where
  the nearest sample is held (sensor stamps jitter against the transform publishers by a few ms).
- A child that gets a new parent is re-parented (its old history dropped); a transform that would close a
  loop is refused.

Times are float seconds (ROS stamps converted by the caller). Thread-safe: ROS callbacks insert from
executor threads while a lookup, possibly waiting with `timeout_s`, runs in another.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from flash_core.geometry.rigid import check_transform, interpolate_transform, invert_transform


class FrameError(LookupError):
    """A lookup that cannot be answered; the message names the frames and the reason."""


class UnknownFrameError(FrameError):
    pass


class DisconnectedFramesError(FrameError):
    pass


class ExtrapolationError(FrameError):
    pass


@dataclass(frozen=True)
class FrameTreeConfig:
    history_s: float = 10.0  # how long dynamic samples are kept (tf2's default buffer length)
    max_extrapolation_s: float = 0.05  # a stamp this far past an edge's history holds the nearest sample

    def __post_init__(self):
        if not self.history_s > 0 or not self.max_extrapolation_s >= 0:
            raise ValueError(f"history_s must be > 0 and max_extrapolation_s >= 0, got {self}")


@dataclass
class _Edge:
    """T_parent_child: one matrix when static, else samples sorted by stamp."""

    parent: str
    static: bool
    stamps_s: list[float] = field(default_factory=list)
    transforms: list[np.ndarray] = field(default_factory=list)

    def at(self, stamp_s: float, max_extrapolation_s: float, child: str) -> np.ndarray:
        if self.static:
            return self.transforms[0]
        first, last = self.stamps_s[0], self.stamps_s[-1]
        if stamp_s < first - max_extrapolation_s or stamp_s > last + max_extrapolation_s:
            side = "past" if stamp_s < first else "future"
            raise ExtrapolationError(
                f"{self.parent} -> {child}: stamp {stamp_s:.6f} s would extrapolate into the {side}; data spans "
                f"[{first:.6f}, {last:.6f}] s (tolerance {max_extrapolation_s} s)")
        if stamp_s <= first:
            return self.transforms[0]
        if stamp_s >= last:
            return self.transforms[-1]
        after = bisect.bisect_right(self.stamps_s, stamp_s)
        t0, t1 = self.stamps_s[after - 1], self.stamps_s[after]
        return interpolate_transform(self.transforms[after - 1], self.transforms[after], (stamp_s - t0) / (t1 - t0))


class FrameTree:
    def __init__(self, config: FrameTreeConfig | None = None):
        self.config = config or FrameTreeConfig()
        self._edges: dict[str, _Edge] = {}  # child -> edge to its parent
        self._changed = threading.Condition()

    @property
    def frames(self) -> set[str]:
        with self._changed:
            return set(self._edges) | {e.parent for e in self._edges.values()}

    def set_transform(self, parent: str, child: str, transform: np.ndarray, stamp_s: float = 0.0,
                      static: bool = False) -> None:
        """Add T_parent_child (4, 4). Static edges ignore the stamp and replace the previous value."""
        if not parent or not child:
            raise ValueError(f"frame names must not be empty (parent {parent!r}, child {child!r})")
        if parent == child:
            raise ValueError(f"frame {child!r} cannot be its own parent")
        matrix = check_transform(transform, f"transform {parent} -> {child}")
        if not np.isfinite(stamp_s):
            raise ValueError(f"stamp of {parent} -> {child} is not finite: {stamp_s}")
        with self._changed:
            if child in self._chain(parent):
                raise ValueError(f"{parent} -> {child} would close a loop: {child} is already above {parent}")
            edge = self._edges.get(child)
            if edge is None or edge.parent != parent or edge.static != static:
                edge = self._edges[child] = _Edge(parent, static)
            if static:
                edge.stamps_s, edge.transforms = [0.0], [matrix]
            else:
                index = bisect.bisect_left(edge.stamps_s, stamp_s)
                if index < len(edge.stamps_s) and edge.stamps_s[index] == stamp_s:
                    edge.transforms[index] = matrix  # a republished sample replaces the old one
                else:
                    edge.stamps_s.insert(index, stamp_s)
                    edge.transforms.insert(index, matrix)
                keep_from = bisect.bisect_left(edge.stamps_s, edge.stamps_s[-1] - self.config.history_s)
                del edge.stamps_s[:keep_from], edge.transforms[:keep_from]
            self._changed.notify_all()

    def lookup(self, target: str, source: str, stamp_s: float | None = None, timeout_s: float = 0.0) -> np.ndarray:
        """T_target_source (4, 4) at stamp_s (None: latest common time); waits up to timeout_s for data."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                try:
                    return self._lookup(target, source, stamp_s)
                except FrameError:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise
                    self._changed.wait(left)

    def _chain(self, frame: str) -> list[str]:
        """frame, its parent, ... up to its root."""
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
        return chain

    def _lookup(self, target: str, source: str, stamp_s: float | None) -> np.ndarray:
        if target == source:  # as tf2 answers: a frame is where it is, whether or not any transform names it
            return np.eye(4)
        known = set(self._edges) | {e.parent for e in self._edges.values()}
        for role, name in (("source", source), ("target", target)):
            if name not in known:
                listed = ", ".join(sorted(known)) or "none yet"
                raise UnknownFrameError(f"{role} frame {name!r} is unknown (known frames: {listed})")
        up_from_source, up_from_target = self._chain(source), self._chain(target)
        common = next((f for f in up_from_source if f in set(up_from_target)), None)
        if common is None:
            raise DisconnectedFramesError(
                f"{source!r} and {target!r} are in trees that do not connect (roots {up_from_source[-1]!r} and "
                f"{up_from_target[-1]!r})")
        source_path = up_from_source[:up_from_source.index(common)]  # children whose edge is walked
        target_path = up_from_target[:up_from_target.index(common)]
        edges = [(child, self._edges[child]) for child in source_path + target_path]
        if stamp_s is None:  # tf2's time 0: the latest time all dynamic edges on the path cover
            dynamic_ends = [edge.stamps_s[-1] for _, edge in edges if not edge.static]
            stamp_s = min(dynamic_ends, default=0.0)
        tolerance = self.config.max_extrapolation_s
        t_common_source = np.eye(4)
        for child in reversed(source_path):  # compose from the common ancestor down to the source
            t_common_source = t_common_source @ self._edges[child].at(stamp_s, tolerance, child)
        t_common_target = np.eye(4)
        for child in reversed(target_path):
            t_common_target = t_common_target @ self._edges[child].at(stamp_s, tolerance, child)
        return invert_transform(t_common_target) @ t_common_source
