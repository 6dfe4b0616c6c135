"""What every object source yields: a mesh in metres with a part label per face, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import trimesh


@dataclass
class ObjectAsset:
    """One object ready for mesh processing.

    `face_parts[f]` indexes `part_names` for face f of `mesh`, so a sentence like "grasp the handle" can be
    checked against the faces (and later the surface points) the fingers touch.
    """

    object_id: str  # unique across sources, "<source>/<name>"
    category: str  # "mug", "hammer", ...; used for unseen-category splits and text
    mesh: trimesh.Trimesh  # metres
    face_parts: np.ndarray  # (F,) int
    part_names: tuple[str, ...]
    source: str
    licence: str
    notes: list[str] = field(default_factory=list)  # repairs applied on import, shown in the build report

    def __post_init__(self) -> None:
        faces = len(self.mesh.faces)
        if self.face_parts.shape != (faces,):
            raise ValueError(f"{self.object_id}: face_parts has shape {self.face_parts.shape}, mesh has {faces} faces")
        if faces and (self.face_parts.min() < 0 or self.face_parts.max() >= len(self.part_names)):
            raise ValueError(f"{self.object_id}: face_parts indexes outside part_names {self.part_names}")


class ObjectSource(Protocol):
    """A collection of objects with one licence."""

    name: str
    licence: str

    def names(self) -> list[str]:
        """Object names inside this source, in a stable order."""
        ...

    def load(self, name: str) -> ObjectAsset:
        """Load one object; raises KeyError for a name not in `names()`."""
        ...


def single_part(mesh: trimesh.Trimesh) -> tuple[np.ndarray, tuple[str, ...]]:
    """Face labels for a mesh whose parts nobody annotated: every face is the object's "body"."""
    return np.zeros(len(mesh.faces), dtype=np.int64), ("body",)
