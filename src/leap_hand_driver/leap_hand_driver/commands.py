"""Joint names and commands of the LEAP hand driver (no ROS types: names and numbers in, arrays out).

Commands may name joints either way: LEAP's own numbering ("0".."15", plus `joint_prefix`) or the
URDF's (gen3_leap.urdf / MoveIt: leap_if_rot, ...). Anything wrong with a command is a ValueError whose
message names the joint, the expected and received lengths, and the valid names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flash_core.hands.spec import load_spec
from flash_core.planning.description import HAND_PREFIX

NAMINGS = ("official", "urdf")


class JointNames:
    """The 16 joints in LEAP order under both namings; `published` is the naming joint_states uses."""

    def __init__(self, naming: str = "official", prefix: str = ""):
        if naming not in NAMINGS:
            raise ValueError(f"joint_naming must be 'official' or 'urdf', got {naming!r}")
        spec = load_spec("leap")
        self.hand = list(spec.joint_names)  # what the core calls them: "0".."15"
        self.official = [prefix + j for j in spec.joint_names]
        self.urdf = [HAND_PREFIX + m for m in spec.model_joint_names]
        self.published = self.official if naming == "official" else self.urdf
        self._index = {name: i for names in (self.official, self.urdf) for i, name in enumerate(names)}

    def __len__(self) -> int:
        return len(self.hand)

    def valid(self) -> str:
        return f"{', '.join(self.official)} (LEAP) or {', '.join(self.urdf)} (URDF)"

    def index(self, name: str, what: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise ValueError(f"{what}: unknown joint {name!r}; valid names: {self.valid()}") from None

    def indices(self, names: Sequence[str], what: str) -> list[int]:
        """Columns of `names`, each known and named once."""
        columns = [self.index(n, what) for n in names]
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        if repeated:
            raise ValueError(f"{what}: joints named more than once: {repeated}")
        return columns

    def goal(self, what: str, names: Sequence[str], positions: Sequence[float], current: np.ndarray) -> np.ndarray:
        """The full goal (J,) from a command: by name (the other joints keep `current`), or all in order."""
        positions = np.asarray(positions, dtype=float)
        if names:
            if len(names) != len(positions):
                raise ValueError(f"{what}: {len(names)} joint names but {len(positions)} positions")
            goal = np.array(current, dtype=float)
            goal[self.indices(names, what)] = positions
        else:
            if len(positions) != len(self):
                raise ValueError(f"{what}: without names, give all {len(self)} positions in joint order "
                                 f"({self.published[0]}..{self.published[-1]}); got {len(positions)}")
            goal = positions
        bad = [f"{self.published[i]!r}={goal[i]}" for i in np.flatnonzero(~np.isfinite(goal))]
        if bad:
            raise ValueError(f"{what}: positions must be finite, got {', '.join(bad)}")
        return goal

    def trajectory_problem(self, names: Sequence[str], point_lengths: Sequence[int]) -> str | None:
        """Why a FollowJointTrajectory goal over `names` with points of these lengths is refused (None: fine)."""
        try:
            self.indices(names, "trajectory")
        except ValueError as exc:
            return str(exc)
        if not point_lengths:
            return "trajectory: no points"
        for k, n in enumerate(point_lengths):
            if n != len(names):
                return f"trajectory: point {k} has {n} positions for the {len(names)} joints {list(names)}"
        return None
