"""The user's own meshes: every OBJ/STL/PLY/GLB file in a folder becomes one object.

Units are metres unless `scale` says otherwise. The category is the name of the file's parent folder
(`my_objects/mug/blue.obj` is a "mug"), or the file stem when the file sits directly in the root. Optional part
labels sit beside the mesh as `<stem>.parts.json`: {"part_names": ["body", "handle"], "face_parts": [0, 1, ...]}
with one entry per face in the order the mesh file lists them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import trimesh

from flash_training.data.objects.base import ObjectAsset, single_part

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb")
LICENCE = "user supplied (licence as stated by the owner of the files)"


class UserMeshSource:
    name = "user"
    licence = LICENCE

    def __init__(self, root: str | Path, scale: float = 1.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"user mesh folder {self.root} does not exist")
        self.scale = scale
        self._paths = {
            p.relative_to(self.root).with_suffix("").as_posix(): p
            for p in sorted(self.root.rglob("*"))
            if p.suffix.lower() in MESH_SUFFIXES
        }

    def names(self) -> list[str]:
        return list(self._paths)

    def load(self, name: str) -> ObjectAsset:
        """Load one mesh; a file that holds no triangles raises ValueError naming the file."""
        if name not in self._paths:
            raise KeyError(f"'{name}' is not a mesh under {self.root}; found {list(self._paths)}")
        path = self._paths[name]
        category = path.parent.name if path.parent != self.root else path.stem
        return load_user_mesh(path, self.scale, f"{self.name}/{name}", category)


def load_user_mesh(path: str | Path, scale: float = 1.0, object_id: str | None = None,
                   category: str | None = None) -> ObjectAsset:
    """One mesh file (its units times `scale` = metres) with the part labels beside it, if any, as an object
    (id "user/<stem>" and category the file stem unless given). A missing file raises FileNotFoundError, a file
    of another format or one that holds no triangles ValueError, each naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no mesh file at {path}")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"{path}: not a mesh file this reads ({', '.join(MESH_SUFFIXES)})")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    try:
        # force="mesh" flattens GLB scenes into one mesh in the scene's world frame; process=False keeps the
        # face order that a .parts.json refers to.
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types (ValueError, KeyError, struct.error, ...) on bad files
        raise ValueError(f"cannot read {path} as a mesh: {exc}") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ValueError(f"{path} holds no triangles")
    mesh.apply_scale(scale)
    labels = path.with_name(path.stem + ".parts.json")
    if labels.exists():
        spec = json.loads(labels.read_text())
        face_parts, part_names = np.asarray(spec["face_parts"], dtype=np.int64), tuple(spec["part_names"])
    else:
        face_parts, part_names = single_part(mesh)
    return ObjectAsset(object_id or f"{UserMeshSource.name}/{path.stem}", category or path.stem, mesh, face_parts,
                       part_names, UserMeshSource.name, LICENCE)
