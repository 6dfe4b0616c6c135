"""Grasps from DexGraspNet or Multi-GraspSet, paired with their object meshes, ready for refinement.

One imported object is one (object code, scale) pair: its mesh scaled by `scale` and moved so that its
bounding-box centre is the origin (the frame `process_object` works in), and its grasps per hand, moved with
it. File layouts: `flash_training.data.grasp_formats`. Meshes are looked up in the `meshes` folder as
DexGraspNet's `<code>/coacd/decomposed.obj`, else `<code>.obj|.stl|.ply|.glb`.

Nothing here raises for one bad file in a folder of many: `ImportedGraspSource.load` raises ValueError or
FileNotFoundError naming the file for the build to record, and bad record lines are collected in `errors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from flash_training.data.grasp_formats import ImportedGrasps, load_dexgraspnet, load_grasp_records
from flash_training.data.objects.base import ObjectAsset, single_part
from flash_training.data.objects.user_mesh import MESH_SUFFIXES

IMPORT_KINDS = ("dexgraspnet", "multigraspset")
LICENCES = {
    "dexgraspnet": "DexGraspNet release terms (https://pku-epic.github.io/DexGraspNet/)",
    "multigraspset": "no licence stated by the release (huggingface.co/datasets/LHS-LHS/Multi-GraspSet)",
}
# Hand names used by other data sets -> FLASH hand names (flash_core.hands.make_hand).
HAND_ALIASES = {"allegro_hand": "allegro", "allegrohand": "allegro", "leap_hand": "leap", "leaphand": "leap"}


@dataclass(frozen=True)
class ImportSpec:
    kind: str  # one of IMPORT_KINDS
    grasps: str  # DexGraspNet: folder of <code>_<scale*1000>.npy (or its parent holding dexgraspnet/);
    # Multi-GraspSet: a .jsonl record file or a folder of them
    meshes: str  # folder of object meshes (see the module docstring)
    limit: int | None = None  # import only the first `limit` objects, in name order
    max_grasps_per_object: int | None = None  # refine only the first grasps of each object and hand

    def __post_init__(self) -> None:
        if self.kind not in IMPORT_KINDS:
            raise ValueError(f"unknown grasp import '{self.kind}'; known: {IMPORT_KINDS}")


@dataclass
class ImportedObject:
    asset: ObjectAsset  # mesh scaled and centred on its bounding box
    grasps: dict[str, ImportedGrasps]  # FLASH hand name -> grasps, x (B, 25) in the asset's frame


def hand_name(name: str) -> str:
    """A data set's hand name in FLASH's spelling ("Allegro_Hand" -> "allegro"); unknown names pass through."""
    key = name.strip().lower()
    return HAND_ALIASES.get(key, key)


def category_from_code(code: str) -> str:
    """A category guess from an object code (both data sets name objects by category plus an id):
    "core-mug-8570d9a8..." and "sem-Bottle-..." (DexGraspNet) -> "mug", "bottle";
    "Bag_756066117169dbc96c1d5082d1bdea19" (Multi-GraspSet) -> "bag"; "025_mug" (YCB) -> "mug"."""
    parts = re.split(r"[-_]", code)
    if parts[0] in ("core", "sem", "mujoco", "ddg") and len(parts) > 2:
        return parts[1 if parts[0] != "ddg" else 2].lower()
    if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{32}", parts[1]):
        return parts[0].lower()
    if len(parts) > 1 and re.fullmatch(r"\d{3}", parts[0]):
        return "_".join(parts[1:]).lower()
    return code.lower()


def find_mesh(meshes: Path, code: str) -> Path:
    """The mesh file of object `code` under `meshes`; FileNotFoundError lists the paths tried."""
    tried = [meshes / code / "coacd" / "decomposed.obj"] + [meshes / f"{code}{suffix}" for suffix in MESH_SUFFIXES]
    for path in tried:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no mesh for object '{code}': tried {', '.join(str(p) for p in tried)}")


class ImportedGraspSource:
    """The objects of one import (see ImportSpec); names are `<code>_<scale*1000>`, as DexGraspNet's files."""

    def __init__(self, spec: ImportSpec) -> None:
        self.spec = spec
        self.name = spec.kind
        self.licence = LICENCES[spec.kind]
        self.meshes = Path(spec.meshes)
        root = Path(spec.grasps)
        if not root.exists():
            raise FileNotFoundError(f"{spec.kind} grasps not found: {root}")
        if not self.meshes.is_dir():
            raise FileNotFoundError(f"{spec.kind} mesh folder not found: {self.meshes}")
        self.errors: list[str] = []  # bad record lines, each naming its file and line
        self._files: dict[str, Path] = {}
        self._records: dict[str, list[ImportedGrasps]] = {}
        if spec.kind == "dexgraspnet":
            folder = root / "dexgraspnet" if (root / "dexgraspnet").is_dir() else root
            self._files = {path.stem: path for path in sorted(folder.glob("*.npy"))}
        else:
            for path in sorted(root.glob("*.jsonl")) if root.is_dir() else [root]:
                for group in load_grasp_records(path, errors=self.errors):
                    name = f"{group.object_code}_{round(group.scale * 1000)}"
                    self._records.setdefault(name, []).append(group)
        if not self._files and not self._records and not self.errors:
            wanted = "<code>_<scale*1000>.npy files" if spec.kind == "dexgraspnet" else "grasp records (.jsonl)"
            raise FileNotFoundError(f"{spec.kind}: no {wanted} in {root}")
        self._names = sorted(self._files or self._records)[: spec.limit]

    def names(self) -> list[str]:
        return list(self._names)

    def hands(self, name: str) -> list[str]:
        """FLASH names of the hands `name` has grasps for (DexGraspNet: the Allegro)."""
        if name in self._files:
            return ["allegro"]
        return sorted({hand_name(g.hand) for g in self._records[name]})

    def load(self, name: str) -> ImportedObject:
        """Read the grasps and mesh of one object; ValueError / FileNotFoundError name the bad file."""
        if name in self._files:
            groups = [load_dexgraspnet(self._files[name])]
        elif name in self._records:
            groups = self._records[name]
        else:
            raise KeyError(f"'{name}' is not an object of this {self.name} import; found {self._names[:5]}...")
        code, scale = groups[0].object_code, groups[0].scale
        path = find_mesh(self.meshes, code)
        mesh = trimesh.load(path, force="mesh", process=False)
        if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
            raise ValueError(f"{path} holds no triangles")
        mesh.apply_scale(scale)
        centre = mesh.bounding_box.centroid
        mesh.apply_translation(-centre)
        per_hand: dict[str, list[ImportedGrasps]] = {}
        for group in groups:  # one object may have records for several hands, or in several files
            per_hand.setdefault(hand_name(group.hand), []).append(group)
        grasps = {}
        limit = self.spec.max_grasps_per_object
        for hand, parts in per_hand.items():
            x = np.concatenate([g.x for g in parts])[:limit].copy()
            x[:, :3] -= centre.astype(np.float32)  # the grasps move with the mesh
            text = [t for g in parts for t in (g.text or [None] * len(g.x))][:limit]
            grasps[hand] = ImportedGrasps(code, hand, scale, x, text if any(t is not None for t in text) else None)
        face_parts, part_names = single_part(mesh)
        notes = [f"imported from {path.name}, scaled by {scale:g}, moved by {np.round(-centre, 4).tolist()} m"]
        asset = ObjectAsset(
            f"{self.name}/{name}",
            category_from_code(code),
            mesh,
            face_parts,
            part_names,
            self.name,
            self.licence,
            notes,
        )
        return ImportedObject(asset, grasps)
