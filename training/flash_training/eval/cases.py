"""What evaluation works on: objects (a mesh in its own frame, optional part labels) and grasps of them.

Every grasp is stored in its object's frame (the mesh's own coordinates, metres, after the file's scale), so
the simulator, the signed distances and the part labels all share one frame; `up_in_object` keeps which way
the world's +z points there, for gravity and for lifting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh


@dataclass(frozen=True)
class EvalObject:
    """One object. `face_parts[f]` indexes `part_names` for face f of `mesh` (None: no part labels)."""

    key: str  # unique within an evaluation ("procedural/mug_000", or the grasp file's object name)
    mesh: trimesh.Trimesh  # metres, object frame
    category: str = ""
    part_names: tuple[str, ...] = ("body",)
    face_parts: np.ndarray | None = None  # (F,) int

    def __post_init__(self) -> None:
        if self.face_parts is not None:
            faces = len(self.mesh.faces)
            if self.face_parts.shape != (faces,):
                raise ValueError(f"{self.key}: face_parts has shape {self.face_parts.shape}, mesh has {faces} faces")
            if faces and (self.face_parts.min() < 0 or self.face_parts.max() >= len(self.part_names)):
                raise ValueError(f"{self.key}: face_parts index outside part_names {self.part_names}")


@dataclass(frozen=True)
class GraspCase:
    """One grasp to judge.

    x (25,): [t (3, m), rot6d (6), q (16, rad)] of the hand root frame in the OBJECT frame, joints in the hand's
    FLASH order (flash_core.hands.pose). `reference_x` (R, 25): ground-truth grasps of the same object and hand
    for the Chamfer metric (empty when there are none).
    """

    index: int  # position in the input (grasp file order or data-set index)
    hand: str
    object_key: str
    x: np.ndarray
    up_in_object: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))  # world +z, unit
    prompt: str | None = None
    target_part: str | None = None
    split: str | None = None
    reference_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 25)))

    def __post_init__(self) -> None:
        if self.x.shape != (25,) or not np.isfinite(self.x).all():
            raise ValueError(f"grasp {self.index}: x must be 25 finite numbers, got shape {self.x.shape}")


@dataclass(frozen=True)
class EvalInput:
    """Grasps and the objects they refer to (by `GraspCase.object_key`)."""

    objects: dict[str, EvalObject]
    cases: list[GraspCase]

    def __post_init__(self) -> None:
        missing = sorted({c.object_key for c in self.cases} - set(self.objects))
        if missing:
            raise ValueError(f"grasps refer to unknown objects {missing}")
